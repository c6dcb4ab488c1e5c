"""Prela's wire format (`prela_spans.proto`) and its checked-in generated code."""
