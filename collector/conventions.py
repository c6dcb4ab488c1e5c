"""Attribute names of the LLM conventions Prela understands, as data.

Sources (checked against the published definitions):
- OTel GenAI semantic conventions (`opentelemetry.semconv._incubating.attributes.gen_ai_attributes`),
  current names and the deprecated ones they replaced;
- OpenInference (`openinference.semconv.trace.SpanAttributes`);
- OpenLLMetry / Traceloop (`opentelemetry.semconv_ai.SpanAttributes`, and the `gen_ai.*` names its
  instrumentations emit);
- Prela's own `prela.*` attributes.

Every key tuple is ordered by precedence: the first key present wins. `mapping.lift_llm_fields`
is the only code that reads these tables.
"""

from __future__ import annotations

from typing import Final

# --- span type -------------------------------------------------------------------------------
PRELA_SPAN_TYPE: Final = "prela.span_type"
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
LLM_REQUEST_TYPE: Final = "llm.request.type"

# Values are matched after lower-casing; a value not in the table falls through to the next rule.
OPENINFERENCE_SPAN_KINDS: Final[dict[str, str]] = {
    "llm": "LLM",
    "embedding": "EMBEDDING",
    "tool": "TOOL",
    "agent": "AGENT",
    "chain": "CHAIN",
    "retriever": "RETRIEVAL",
    "reranker": "RERANKER",
    "guardrail": "GUARDRAIL",
    "evaluator": "EVALUATOR",
}
GEN_AI_OPERATIONS: Final[dict[str, str]] = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}
TRACELOOP_SPAN_KINDS: Final[dict[str, str]] = {
    "workflow": "CHAIN",
    "task": "CHAIN",
    "agent": "AGENT",
    "tool": "TOOL",
}
LLM_REQUEST_TYPES: Final[dict[str, str]] = {
    "chat": "LLM",
    "completion": "LLM",
    "embedding": "EMBEDDING",
}
# GenAI makes gen_ai.operation.name required, but older senders (early OpenLLMetry, the Vercel AI
# SDK) omit it on model calls; a requested/response model only appears on model calls, so it means LLM.
GEN_AI_MODEL_MARKERS: Final = ("gen_ai.request.model", "gen_ai.response.model")

# --- model and provider ----------------------------------------------------------------------
RESPONSE_MODEL_KEYS: Final = ("gen_ai.response.model", "llm.response.model_name")
REQUEST_MODEL_KEYS: Final = ("gen_ai.request.model", "llm.request.model_name")
# Neither request nor response: the model a span names when it names only one.
GENERIC_MODEL_KEYS: Final = ("llm.model_name", "embedding.model_name", "reranker.model_name")
# OpenInference JSON strings whose "model" member names the requested model.
INVOCATION_PARAMETER_KEYS: Final = ("llm.invocation_parameters", "embedding.invocation_parameters")
PROVIDER_KEYS: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")

# --- tokens (cache and reasoning tokens are breakdowns, kept apart, never summed in) -----------
INPUT_TOKEN_KEYS: Final = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",  # deprecated GenAI name, still sent by OpenLLMetry
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",  # early OpenLLMetry
)
OUTPUT_TOKEN_KEYS: Final = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
TOTAL_TOKEN_KEYS: Final = ("llm.token_count.total", "llm.usage.total_tokens", "gen_ai.usage.total_tokens")
CACHE_READ_TOKEN_KEYS: Final = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",  # deprecated GenAI / OpenLLMetry Anthropic
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_TOKEN_KEYS: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_TOKEN_KEYS: Final = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",  # OpenLLMetry
    "llm.token_count.completion_details.reasoning",
    # -- fwpy (issue 12, Python agent frameworks) --
    "gen_ai.usage.details.reasoning_tokens",  # pydantic-ai
    # -- end fwpy --
)

# --- cost in USD (explicit values win over the price table) -----------------------------------
COST_TOTAL_KEYS: Final = (
    "prela.cost_usd",
    "llm.cost.total",
    "gen_ai.usage.cost",
    # -- fwpy (issue 12, Python agent frameworks) --
    "operation.cost",  # pydantic-ai and logfire's OpenAI instrumentation (priced by genai-prices)
    "gen_ai.cost.total_cost",  # LiteLLM's OpenTelemetry callback
    # -- end fwpy --
)
# OpenInference split costs, summed when no total is given.
COST_PART_KEYS: Final = ("llm.cost.prompt", "llm.cost.completion")

# --- content ---------------------------------------------------------------------------------
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

# Indexed message families: (prefix, sub-key prefix stripped from each member, probe keys).
# The probe keys are the cheap check: the family is scanned only when one of them is present.
OPENLLMETRY_PROMPTS: Final = ("gen_ai.prompt.", "", ("gen_ai.prompt.0.role", "gen_ai.prompt.0.content"))
OPENLLMETRY_COMPLETIONS: Final = (
    "gen_ai.completion.",
    "",
    ("gen_ai.completion.0.role", "gen_ai.completion.0.content", "gen_ai.completion.0.finish_reason"),
)
OPENINFERENCE_INPUT_MESSAGES: Final = (
    "llm.input_messages.",
    "message.",
    ("llm.input_messages.0.message.role", "llm.input_messages.0.message.content"),
)
OPENINFERENCE_OUTPUT_MESSAGES: Final = (
    "llm.output_messages.",
    "message.",
    ("llm.output_messages.0.message.role", "llm.output_messages.0.message.content"),
)

# --- fwpy (issue 12, Python agent frameworks) ---
# Whole message lists read like `gen_ai.input.messages` (system instructions prepended), by precedence:
# pydantic-ai puts the run's whole conversation on its agent span as `pydantic_ai.all_messages`.
INPUT_MESSAGES_KEYS: Final = (GEN_AI_INPUT_MESSAGES, "pydantic_ai.all_messages")
# --- end fwpy ---

# Whole-value content, after the message forms above.
INPUT_VALUE_KEYS: Final = (
    "input.value",
    "traceloop.entity.input",
    "gen_ai.prompt",
    # -- fwpy (issue 12, Python agent frameworks) --
    "gen_ai.tool.call.arguments",  # GenAI execute_tool spans (pydantic-ai)
    "request_data",  # logfire's OpenAI instrumentation, version=1: the request as sent
    # -- end fwpy --
)
OUTPUT_VALUE_KEYS: Final = (
    "output.value",
    "traceloop.entity.output",
    "gen_ai.completion",
    # -- fwpy (issue 12, Python agent frameworks) --
    "gen_ai.tool.call.result",  # GenAI execute_tool spans (pydantic-ai)
    "final_result",  # pydantic-ai's agent run span
    "response_data",  # logfire's OpenAI instrumentation, version=1: {message, usage}
    # -- end fwpy --
)
# Deprecated GenAI span events that carried the prompt / completion as an attribute.
GEN_AI_PROMPT_EVENT: Final = ("gen_ai.content.prompt", "gen_ai.prompt")
GEN_AI_COMPLETION_EVENT: Final = ("gen_ai.content.completion", "gen_ai.completion")

# --- sessions, users, environment ----------------------------------------------------------
SESSION_ID_KEYS: Final = (
    "prela.session_id",
    "gen_ai.conversation.id",
    "session.id",  # OpenInference
    "traceloop.association.properties.session_id",
    "langfuse.session.id",
)
USER_ID_KEYS: Final = (
    "prela.user_id",
    "user.id",  # OpenInference
    "enduser.id",  # OTel general attributes
    "traceloop.association.properties.user_id",
    "langfuse.user.id",
    # -- fwpy (issue 12, Python agent frameworks) --
    "llm.user",  # LiteLLM's OpenTelemetry callback: the `user` sent to the provider
    # -- end fwpy --
)
# Read from the resource first (where OTel puts it), then from the span.
ENVIRONMENT_KEYS: Final = ("deployment.environment.name", "deployment.environment", "langfuse.environment")

# --- Prela JSON (the seed payload) -----------------------------------------------------------
# Plain attribute keys a Prela JSON span may use; consulted after every convention above.
PLAIN_MODEL_KEYS: Final = ("model",)
PLAIN_PROVIDER_KEYS: Final = ("provider",)
PLAIN_INPUT_TOKEN_KEYS: Final = ("input_tokens", "prompt_tokens")
PLAIN_OUTPUT_TOKEN_KEYS: Final = ("output_tokens", "completion_tokens")
PLAIN_TOTAL_TOKEN_KEYS: Final = ("total_tokens",)
PLAIN_COST_KEYS: Final = ("cost_usd",)
PLAIN_INPUT_KEYS: Final = ("input",)
PLAIN_OUTPUT_KEYS: Final = ("output",)

# --- resource --------------------------------------------------------------------------------
SERVICE_NAME: Final = "service.name"
DEFAULT_SERVICE_NAME: Final = "unknown_service"  # OTel resource semantic conventions
