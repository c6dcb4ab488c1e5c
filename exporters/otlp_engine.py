"""The span mapping as ClickHouse SQL: raw OTLP requests in, `spans` rows out, no Python per span.

`collector/mapping.py` walks every attribute of every span in Python; here ClickHouse does the same
work while it parses the request (format Protobuf, `proto/otlp_ingest.proto`): the inserter writes
the raw `ExportTraceServiceRequest` bytes into the Null table `otlp_ingest`, whose materialized view
maps them into `spans`. The SQL is RENDERED from the tables the Python mapping reads
(`collector/conventions.py`, `collector/model_prices.json`, `model/span.py`): a convention added
there changes both mappings, and tests/unit/test_engine_mapping.py proves they agree.

Attributes are split per span into parallel arrays (key, type, JSON, text, count, number...), so a
convention lookup is one `indexOf` over the reversed keys (the last duplicate wins, as in a dict).

The view's name carries a hash of its SQL, so installing is idempotent and safe while writers
insert: the new view is created, then older ones are dropped (`install`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from importlib import resources
from string import Template

from clickhouse_connect.driver.client import Client

from prela.collector import conventions as cv
from prela.collector.mapping import SPAN_KINDS
from prela.collector.pricing import PRICES
from prela.model.span import MAX_COST_USD, SPAN_TYPES
from prela.model.timestamps import MAX_TIME_NS

logger = logging.getLogger(__name__)

_SQL = resources.files("prela.exporters") / "sql" / "engine"
RAW_TABLE = "otlp_ingest"
VIEW_PREFIX = "otlp_spans_mv_"
PROTO_MESSAGE = "Req"
# AnyValue nests by explicit levels (ClickHouse reads no recursive message); see the .proto.
DEPTH = 4
_STATUS_CODE_ERROR = 2
_MAX_COUNT_PLUS_ONE = "9223372036854775808."  # counts are in [0, 2^63): a float below this truncates in range
# Python's float() syntax (finite numbers): what `int(float(text))` and `float(text)` accept.
_PY_FLOAT = r"^[ \t\n\x0b\x0c\r\x1c-\x1f]*[+-]?([0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?[ \t\n\x0b\x0c\r\x1c-\x1f]*$"

# Type codes of an attribute value (0: absent or not set, Python's None).
T_NONE, T_STR, T_BOOL, T_INT, T_DOUBLE, T_ARRAY, T_KVLIST, T_BYTES = range(8)


def proto_schema() -> str:
    """The trimmed OTLP schema ClickHouse parses the requests with."""
    return (resources.files("prela.proto") / "otlp_ingest.proto").read_text("utf-8")


def lit(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _lits(values: Sequence[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


# --- AnyValue: its ClickHouse type and its JSON -----------------------------------------------


def any_value_type(level: int = 0) -> str:
    scalars = "string_value Array(String), bool_value Array(Bool), int_value Array(Int64), double_value Array(Float64)"
    if level == DEPTH - 1:
        return f"Tuple({scalars}, bytes_value Array(String))"
    inner = any_value_type(level + 1)
    return (
        f"Tuple({scalars}, array_value Array(Tuple(values Array({inner}))), "
        f"kvlist_value Array(Tuple(values Array(Tuple(key String, value {inner})))), bytes_value Array(String))"
    )


def key_values_type(level: int = 0) -> str:
    return f"Array(Tuple(key String, value {any_value_type(level)}))"


def type_code(v: str, level: int = 0) -> str:
    """SQL: the T_* code of the AnyValue `v`."""
    parts = [
        f"notEmpty({v}.string_value), {T_STR}",
        f"notEmpty({v}.bool_value), {T_BOOL}",
        f"notEmpty({v}.int_value), {T_INT}",
        f"notEmpty({v}.double_value), {T_DOUBLE}",
    ]
    if level < DEPTH - 1:
        parts += [f"notEmpty({v}.array_value), {T_ARRAY}", f"notEmpty({v}.kvlist_value), {T_KVLIST}"]
    parts.append(f"notEmpty({v}.bytes_value), {T_BYTES}")
    return f"multiIf({', '.join(parts)}, {T_NONE})"


def double_json(d: str) -> str:
    # orjson writes NaN and ±Infinity as null
    return f"if(isFinite({d}), toString({d}), 'null')"


def value_json(v: str, level: int = 0) -> str:
    """SQL: the AnyValue `v` as JSON text, as `mapping.any_value` + orjson write it."""
    parts = [
        f"notEmpty({v}.string_value), toJSONString({v}.string_value[-1])",
        f"notEmpty({v}.bool_value), if({v}.bool_value[-1], 'true', 'false')",
        f"notEmpty({v}.int_value), toString({v}.int_value[-1])",
        f"notEmpty({v}.double_value), {double_json(f'{v}.double_value[-1]')}",
    ]
    if level < DEPTH - 1:
        x = f"x{level + 1}"
        items = f"arrayMap({x} -> {value_json(x, level + 1)}, {v}.array_value[-1].values)"
        parts += [
            f"notEmpty({v}.array_value), concat('[', arrayStringConcat({items}, ','), ']')",
            f"notEmpty({v}.kvlist_value), {object_json(f'{v}.kvlist_value[-1].values', level + 1)}",
        ]
    parts.append(f"notEmpty({v}.bytes_value), concat('\"', base64Encode({v}.bytes_value[-1]), '\"')")
    return f"multiIf({', '.join(parts)}, 'null')"


def last_of_each_key(keys: str) -> str:
    """SQL: a mask keeping, of each key, its last occurrence (a dict's last duplicate wins)."""
    return f"arrayReverse(arrayMap(u -> u = 1, arrayEnumerateUniq(arrayReverse({keys}))))"


def object_json(kvs: str, level: int = 0) -> str:
    """SQL: repeated KeyValue `kvs` as a JSON object, last duplicate key winning."""
    kv = f"kv{level}"
    keep = f"keep{level}"
    kept = f"arrayFilter(({kv}, {keep}) -> {keep}, {kvs}, {last_of_each_key(f'arrayMap(k -> k.key, {kvs})')})"
    pairs = f"arrayMap({kv} -> concat(toJSONString({kv}.key), ':', {value_json(f'{kv}.value', level)}), {kept})"
    return f"concat('{{', arrayStringConcat({pairs}, ','), '}}')"


def value_text(v: str) -> str:
    """SQL: `mapping._text` of an attribute value: strings (and bytes, base64) as sent, else JSON;
    '' when not set."""
    return (
        f"multiIf(notEmpty({v}.string_value), {v}.string_value[-1], notEmpty({v}.bytes_value), "
        f"base64Encode({v}.bytes_value[-1]), {type_code(v)} = {T_NONE}, '', {value_json(v)})"
    )


def py_repr_float(d: str) -> str:
    """SQL: Python's `repr(float)` (`str(0.5)`, `'1e+16'`): the shortest digits ClickHouse writes,
    laid out the way Python lays them out."""
    s = f"toString(abs({d}))"
    mant = f"splitByChar('e', {s})[1]"
    exp = f"if(position({s}, 'e') > 0, toInt32(splitByChar('e', {s})[2]), 0)"
    int_part = f"splitByChar('.', {mant})[1]"
    all_digits = f"replaceOne({mant}, '.', '')"
    lead = f"(length({all_digits}) - length(trimLeft({all_digits}, '0')))"
    digits = f"trimRight(trimLeft({all_digits}, '0'), '0')"
    point = f"(length({int_part}) - {lead} + {exp})"  # value = 0.<digits> × 10^point
    n = f"length({digits})"
    fixed = (
        f"multiIf({point} <= 0, concat('0.', repeat('0', toUInt64(-{point})), {digits}), "
        f"{point} >= {n}, concat({digits}, repeat('0', toUInt64({point} - {n})), '.0'), "
        f"concat(substring({digits}, 1, {point}), '.', substring({digits}, {point} + 1)))"
    )
    sci_exp = f"({point} - 1)"
    sci = (
        f"concat(substring({digits}, 1, 1), if({n} > 1, concat('.', substring({digits}, 2)), ''), 'e', "
        f"if({sci_exp} < 0, '-', '+'), leftPad(toString(abs({sci_exp})), 2, '0'))"
    )
    sign = f"if(startsWith(toString({d}), '-'), '-', '')"
    body = f"multiIf({digits} = '', '0.0', {sci_exp} >= -4 AND {sci_exp} < 16, {fixed}, {sci})"
    return f"multiIf(isNaN({d}), 'nan', isInfinite({d}), if({d} > 0, 'inf', '-inf'), concat({sign}, {body}))"


def py_float(text: str) -> str:
    """SQL: Python's `float(text)` for finite syntax, else NULL."""
    cleaned = f"replaceRegexpAll({text}, '^[ \\t\\n\\x0b\\x0c\\r\\x1c-\\x1f]+|[ \\t\\n\\x0b\\x0c\\r\\x1c-\\x1f]+$|_', '')"
    return f"if(match({text}, {lit(_PY_FLOAT)}), toFloat64OrNull({cleaned}), NULL)"


# --- one attribute list as parallel arrays, and the lookups over them -------------------------


class AttributeArrays:
    """The SQL of lookups into one attribute list split into arrays named `<p>_k`, `<p>_t`, …

    Index 0 means absent: ClickHouse reads `arr[0]` as the element type's default (0, '', NULL),
    which is what an absent key must read as.
    """

    def __init__(self, prefix: str) -> None:
        self.p = prefix

    def columns(self, source: str) -> list[str]:
        """SELECT items that build the arrays from the KeyValue array `source`."""
        p = self.p
        v = "kv.value"
        s_of = (
            f"multiIf(notEmpty({v}.string_value), {v}.string_value[-1], "
            f"notEmpty({v}.bool_value), if({v}.bool_value[-1], 'True', 'False'), "
            f"notEmpty({v}.int_value), toString({v}.int_value[-1]), "
            f"notEmpty({v}.double_value), {py_repr_float(f'{v}.double_value[-1]')}, "
            f"notEmpty({v}.bytes_value), base64Encode({v}.bytes_value[-1]), "
            f"notEmpty({v}.array_value) OR notEmpty({v}.kvlist_value), {value_json(v)}, '')"
        )
        return [
            f"arrayMap(kv -> kv.key, {source}) AS {p}_k",
            f"arrayReverse({p}_k) AS {p}_r",
            f"length({p}_k) AS {p}_n",
            f"arrayMap(kv -> {type_code(v)}, {source}) AS {p}_t",
            # Python's str(value) of scalars (str(True) == 'True', repr of floats); bytes as base64
            f"arrayMap(kv -> {s_of}, {source}) AS {p}_s",
            f"arrayMap(kv -> {value_json(v)}, {source}) AS {p}_j",
            # `_text(value)`: strings and base64 as they are, anything else as JSON
            f"arrayMap((t, s, j) -> if(t IN ({T_STR}, {T_BYTES}), s, j), {p}_t, {p}_s, {p}_j) AS {p}_x",
            # Python truthiness of the value
            f"arrayMap((kv, t, s) -> multiIf(t IN ({T_STR}, {T_BYTES}), s != '', t = {T_BOOL}, "
            f"{v}.bool_value[-1], t = {T_INT}, {v}.int_value[-1] != 0, t = {T_DOUBLE}, "
            f"{v}.double_value[-1] != 0, t = {T_ARRAY}, notEmpty({v}.array_value[1].values), "
            f"t = {T_KVLIST}, notEmpty({v}.kvlist_value[1].values), false), {source}, {p}_t, {p}_s) AS {p}_b",
            # float(value) as `_as_float` reads it (bool and structures: NULL)
            f"arrayMap((kv, t, s) -> multiIf(t = {T_INT}, toFloat64({v}.int_value[-1]), t = {T_DOUBLE}, "
            f"{v}.double_value[-1], t IN ({T_STR}, {T_BYTES}), {py_float('s')}, NULL), {source}, {p}_t, {p}_s)"
            f" AS {p}_f",
            # `_first_int`: a count in [0, 2^63) plus one, 0 when the value is no count
            f"arrayMap((kv, t, f) -> multiIf(t = {T_INT}, if({v}.int_value[-1] >= 0, "
            f"toUInt64({v}.int_value[-1]) + 1, 0), t IN ({T_DOUBLE}, {T_STR}, {T_BYTES}) AND isFinite(f) "
            f"AND f > -1 AND f < {_MAX_COUNT_PLUS_ONE}, toUInt64(trunc(f)) + 1, 0), {source}, {p}_t, {p}_f)"
            f" AS {p}_c",
        ]

    def ix(self, key: str) -> str:
        """SQL: 1-based index of the last `key`, 0 when absent."""
        p = self.p
        return f"if(indexOf({p}_r, {lit(key)}) = 0, 0, {p}_n + 1 - indexOf({p}_r, {lit(key)}))"

    def ix_of(self, key_sql: str) -> str:
        p = self.p
        return f"if(indexOf({p}_r, {key_sql}) = 0, 0, {p}_n + 1 - indexOf({p}_r, {key_sql}))"

    def at(self, array: str, index: str) -> str:
        return f"{self.p}_{array}[{index}]"

    def present(self, key: str) -> str:
        """`key in attrs`."""
        return f"has({self.p}_k, {lit(key)})"

    def first(self, keys: Sequence[str]) -> str:
        """SQL: index of `mapping._first(attrs, keys)`: the first key set and not "", else 0."""
        if not keys:
            return "0"
        branches = []
        for key in keys:
            i = self.ix(key)
            branches.append(
                f"{self.at('t', i)} != {T_NONE} AND NOT ({self.at('t', i)} IN ({T_STR}, {T_BYTES}) "
                f"AND {self.at('s', i)} = ''), {i}"
            )
        return f"multiIf({', '.join(branches)}, 0)"

    def first_text(self, keys: Sequence[str]) -> str:
        """SQL: `mapping._first_text`."""
        return self.at("x", self.first(keys))

    def first_count_plus_one(self, keys: Sequence[str]) -> str:
        """SQL: `mapping._first_int` + 1, 0 for None."""
        branches = [f"{self.at('c', self.ix(k))} > 0, {self.at('c', self.ix(k))}" for k in keys]
        return f"multiIf({', '.join(branches)}, toUInt64(0))" if branches else "toUInt64(0)"


def _as_float(x: str) -> str:
    """SQL: `mapping._as_float` on an already parsed Nullable(Float64)."""
    return f"if({x} >= 0 AND {x} < {MAX_COST_USD!r}, {round12(x)}, NULL)"


def round12(x: str) -> str:
    # Above 9007 the float grid is coarser than 1e-12: Python's round() returns the value unchanged.
    return f"if(abs({x}) >= 9007., {x}, round({x}, 12))"


def _transform(value: str, table: dict[str, str]) -> str:
    keys = list(table)
    return f"transform({value}, {_lits(keys)}, {_lits([table[k] for k in keys])}, '')"


# --- the LLM fields --------------------------------------------------------------------------


def span_type_sql(a: AttributeArrays) -> str:
    """`mapping.span_type_of`: the first rule whose (string) value is known."""
    rules = []
    i = a.ix(cv.PRELA_SPAN_TYPE)
    upper = f"upperUTF8({a.at('s', i)})"
    rules.append(f"{a.at('t', i)} = {T_STR} AND has({_lits(sorted(SPAN_TYPES))}, {upper}), {upper}")
    for key, table in (
        (cv.OPENINFERENCE_SPAN_KIND, cv.OPENINFERENCE_SPAN_KINDS),
        (cv.GEN_AI_OPERATION_NAME, cv.GEN_AI_OPERATIONS),
        (cv.TRACELOOP_SPAN_KIND, cv.TRACELOOP_SPAN_KINDS),
        (cv.LLM_REQUEST_TYPE, cv.LLM_REQUEST_TYPES),
    ):
        i = a.ix(key)
        found = _transform(f"lowerUTF8({a.at('s', i)})", table)
        rules.append(f"{a.at('t', i)} = {T_STR} AND {found} != '', {found}")
    if cv.GEN_AI_MODEL_MARKERS:
        rules.append(" OR ".join(a.present(k) for k in cv.GEN_AI_MODEL_MARKERS) + ", 'LLM'")
    return f"multiIf({', '.join(rules)}, 'CUSTOM')"


def _json_truthy(doc: str, member: str) -> str:
    t = f"JSONType({doc}, {lit(member)})"
    return (
        f"multiIf({t} = 'String', JSONExtractString({doc}, {lit(member)}) != '', "
        f"{t} IN ('Int64', 'UInt64', 'Double'), JSONExtractFloat({doc}, {lit(member)}) != 0, "
        f"{t} = 'Bool', JSONExtractBool({doc}, {lit(member)}), {t} IN ('Array', 'Object'), "
        f"JSONLength({doc}, {lit(member)}) > 0, false)"
    )


def _json_string(doc: str, member: str) -> str:
    return f"if(JSONType({doc}, {lit(member)}) = 'String', JSONExtractString({doc}, {lit(member)}), '')"


def invocation_model_sql(a: AttributeArrays) -> str:
    """`mapping._invocation_model`: "model" (else "model_name") of the first parameters object."""
    found = []
    for key in cv.INVOCATION_PARAMETER_KEYS:
        i = a.ix(key)
        t, s = a.at("t", i), a.at("s", i)
        doc = (
            f"multiIf({t} IN ({T_STR}, {T_BYTES}) AND isValidJSON({s}), {s}, "
            f"{t} = {T_KVLIST}, {a.at('j', i)}, '')"
        )
        model = f"if({_json_truthy(doc, 'model')}, {_json_string(doc, 'model')}, {_json_string(doc, 'model_name')})"
        found.append(f"if(JSONType({doc}) = 'Object', {model}, '')")
    if not found:
        return "''"
    return f"arrayFirst(m -> m != '', [{', '.join(found)}])"


def price_sql(model: str, input_tokens: str, output_tokens: str, cache_read: str, cache_write: str) -> str:
    """`pricing.cost_usd`: the price table, exact name first, else the longest prefix at a boundary."""
    names = sorted(PRICES, key=len, reverse=True)
    lower = f"lowerUTF8(replaceRegexpAll({model}, '^\\\\s+|\\\\s+$', ''))"
    last = f"splitByChar('/', {lower})[-1]"
    name = f"if(position({last}, 'anthropic.') > 0, substring({last}, position({last}, 'anthropic.') + 10), {last})"
    keys = _lits(names)
    index = (
        f"if(indexOf({keys}, {name}) > 0, indexOf({keys}, {name}), arrayFirstIndex(k -> startsWith({name}, k) "
        f"AND length({name}) > length(k) AND position('-@:_', substring({name}, length(k) + 1, 1)) > 0, {keys}))"
    )

    def column(field: str) -> str:
        return "[" + ", ".join(repr(float(getattr(PRICES[n], field))) for n in names) + f"][{index}]"

    cr = f"toInt128({cache_read})"
    cw = f"toInt128({cache_write})"
    uncached = f"greatest(toInt128(0), toInt128({input_tokens}) - {cr} - {cw})"
    total = (
        f"toFloat64({uncached}) * {column('input')} + toFloat64({cr}) * {column('cache_read')} "
        f"+ toFloat64({cw}) * {column('cache_write')} + toFloat64({output_tokens}) * {column('output')}"
    )
    return f"if({model} = '' OR {index} = 0, 0., round(({total}) * 1e-06, 12))"


def family_sql(a: AttributeArrays, family: tuple[str, str, tuple[str, ...]]) -> str:
    """`mapping._indexed_messages`: `<prefix>N.role/content` probed from 0; a family with a message
    lacking content (tool calls, multimodal parts) is scanned whole (`_scan_family`). '' if none."""
    prefix, strip, probes = family
    p = a.p

    def key_at(i: str, member: str) -> str:
        return f"concat({lit(prefix)}, toString({i}), {lit('.' + strip + member)})"

    contents = f"arrayMap(i -> {a.ix_of(key_at('i', 'content'))}, range(toUInt64({p}_n + 1)))"
    missing = f"(arrayFirstIndex(c -> {p}_t[c] = {T_NONE}, {contents}) - 1)"
    role_ix = a.ix_of(key_at("i", "role"))
    role_at_missing = f"{p}_t[{a.ix_of(key_at(missing, 'role'))}] != {T_NONE}"
    probed = " OR ".join(a.present(k) for k in probes) or "false"
    scan = f"({role_at_missing} OR ({missing} = 0 AND ({probed})))"
    message = (
        f"if({p}_t[{role_ix}] != {T_NONE}, concat('{{\"role\":', {p}_j[{role_ix}], ',\"content\":', "
        f"{p}_j[{contents}[i + 1]], '}}'), concat('{{\"content\":', {p}_j[{contents}[i + 1]], '}}'))"
    )
    probed_json = f"concat('[', arrayStringConcat(arrayMap(i -> {message}, range(toUInt64({missing}))), ','), ']')"
    # the full scan: every `<prefix><digits>.<member>` key, grouped by the number
    plen = len(prefix)
    pattern = "^" + "".join("\\" + ch if not ch.isalnum() else ch for ch in prefix) + "[0-9]+\\."
    keep = last_of_each_key(f"{p}_k")
    selected = f"arrayFilter((i, kept) -> kept AND match({p}_k[i], {lit(pattern)}), arrayEnumerate({p}_k), {keep})"
    number = f"toUInt64OrZero(substring({p}_k[i], {plen + 1}, position({p}_k[i], '.', {plen + 1}) - {plen + 1}))"
    member_raw = f"substring({p}_k[i], position({p}_k[i], '.', {plen + 1}) + 1)"
    member = (
        f"if(startsWith({member_raw}, {lit(strip)}), substring({member_raw}, {len(strip) + 1}), {member_raw})"
        if strip
        else member_raw
    )
    numbers = f"arrayMap(i -> {number}, {selected})"
    pairs = f"arrayMap(i -> concat(toJSONString({member}), ':', {p}_j[i]), {selected})"
    group = (
        f"concat('{{', arrayStringConcat(arrayFilter((pair, n) -> n = g, {pairs}, {numbers}), ','), '}}')"
    )
    scanned = f"concat('[', arrayStringConcat(arrayMap(g -> {group}, arraySort(arrayDistinct({numbers}))), ','), ']')"
    return f"multiIf({scan}, {scanned}, {missing} > 0, {probed_json}, '')"


def _maybe_json(a: AttributeArrays, i: str) -> str:
    """SQL: JSON text of `mapping._maybe_json(value)`: a string that parses as JSON is that JSON."""
    t, s = a.at("t", i), a.at("s", i)
    return f"multiIf({t} IN ({T_STR}, {T_BYTES}), if(isValidJSON({s}), {s}, toJSONString({s})), {a.at('j', i)})"


def gen_ai_input_sql(a: AttributeArrays) -> str:
    """`mapping._gen_ai_input`: input messages, led by the system instructions; NULL when neither."""
    mi, si = a.ix(cv.GEN_AI_INPUT_MESSAGES), a.ix(cv.GEN_AI_SYSTEM_INSTRUCTIONS)
    parts = _maybe_json(a, si)
    parts_list = f"if(JSONType({parts}) = 'Array', {parts}, concat('[{{\"type\":\"text\",\"content\":', {parts}, '}}]'))"
    messages = _maybe_json(a, mi)
    inner = f"trimBoth(replaceRegexpAll({messages}, '^\\\\s*\\\\[|\\\\]\\\\s*$', ''))"
    tail = f"multiIf({a.at('t', mi)} = {T_NONE}, '', JSONType({messages}) = 'Array', {inner}, {messages})"
    combined = (
        f"concat('[{{\"role\":\"system\",\"parts\":', {parts_list}, '}}', "
        f"if({tail} != '', concat(',', {tail}), ''), ']')"
    )
    return (
        f"multiIf({a.at('t', si)} != {T_NONE}, {combined}, {a.at('t', mi)} != {T_NONE}, "
        f"{a.at('x', mi)}, NULL)"
    )


def _event_text(event_name: str, attribute: str) -> str:
    """SQL: `_text` of `attribute` of the first `event_name` span event that has it non-empty."""
    texts = f"arrayMap(kv -> {value_text('kv.value')}, arrayFilter(kv -> kv.key = {lit(attribute)}, e.attributes))"
    return (
        f"arrayFirst(x -> x != '', arrayMap(e -> if(e.name = {lit(event_name)}, {texts}[-1], ''), sp_events))"
    )


def content_sql(
    a: AttributeArrays, whole: str, families: Sequence[tuple[str, str, tuple[str, ...]]], value_keys: Sequence[str]
) -> str:
    """`mapping._content`: whole messages, else the first indexed family, else the first value key."""
    found = [f"nullIf({family_sql(a, f)}, '')" for f in families]
    return f"coalesce({', '.join([whole, *found, a.first_text(value_keys)])})"


def span_select_items(a: AttributeArrays) -> list[tuple[str, str]]:
    """(column, SQL) of every spans column, in the table's order."""
    kinds = _lits(SPAN_KINDS)
    requested = a.first(cv.REQUEST_MODEL_KEYS)
    response = a.first(cv.RESPONSE_MODEL_KEYS)
    generic = a.first(cv.GENERIC_MODEL_KEYS)
    request_model = f"if({requested} > 0, {a.at('s', requested)}, {invocation_model_sql(a)})"
    chosen = f"if({a.at('b', response)}, {response}, if({a.at('b', requested)}, {requested}, {generic}))"
    model = f"if({chosen} > 0, {a.at('s', chosen)}, _request_model)"
    input_c1 = a.first_count_plus_one(cv.INPUT_TOKEN_KEYS)
    output_c1 = a.first_count_plus_one(cv.OUTPUT_TOKEN_KEYS)
    total_c1 = a.first_count_plus_one(cv.TOTAL_TOKEN_KEYS)

    def minus_one(c1: str) -> str:
        return f"if({c1} > 0, {c1} - 1, toUInt64(0))"

    explicit = _as_float(a.at("f", a.first(cv.COST_TOTAL_KEYS)))
    parts = [_as_float(a.at("f", a.ix(k))) for k in cv.COST_PART_KEYS]
    parts_sum = " + ".join(f"coalesce({x}, 0.)" for x in parts)
    any_part = " OR ".join(f"{x} IS NOT NULL" for x in parts) or "false"
    priced = price_sql(
        "model", "_input_tokens", "_output_tokens", "_cache_read_tokens", "_cache_write_tokens"
    )
    cost = (
        f"coalesce({explicit}, if({any_part}, {parts_sum or '0.'}, "
        f"if(model != '' AND (_input_tokens > 0 OR _output_tokens > 0), {priced}, 0.)))"
    )
    # Decimal(18, 12) from the float as the Python writer does it: Decimal(str(x)), truncated
    cost_decimal = f"toDecimal64OrZero(toString({cost}), 12)"

    inputs = (cv.OPENLLMETRY_PROMPTS, cv.OPENINFERENCE_INPUT_MESSAGES)
    outputs = (cv.OPENLLMETRY_COMPLETIONS, cv.OPENINFERENCE_OUTPUT_MESSAGES)
    out_i = a.ix(cv.GEN_AI_OUTPUT_MESSAGES)
    whole_output = f"if({a.at('t', out_i)} != {T_NONE}, {a.at('x', out_i)}, NULL)"
    input_text = content_sql(a, gen_ai_input_sql(a), inputs, cv.INPUT_VALUE_KEYS)
    output_text = content_sql(a, whole_output, outputs, cv.OUTPUT_VALUE_KEYS)

    return [
        ("project_id", "project_id"),
        ("trace_id", "lower(hex(sp_trace_id))"),
        ("span_id", "lower(hex(sp_span_id))"),
        ("parent_span_id", "lower(hex(sp_parent_span_id))"),
        ("trace_state", "sp_trace_state"),
        ("name", "sp_name"),
        ("span_type", span_type_sql(a)),
        ("kind", f"if(sp_kind >= 0 AND sp_kind < {len(SPAN_KINDS)}, {kinds}[sp_kind + 1], 'UNSPECIFIED')"),
        ("service_name", "service_name"),
        ("scope_name", "scope_name"),
        ("scope_version", "scope_version"),
        ("started_at", "fromUnixTimestamp64Nano(toInt64(sp_start))"),
        ("ended_at", "fromUnixTimestamp64Nano(toInt64(sp_end))"),
        ("duration_ns", "if(sp_end > sp_start, sp_end - sp_start, 0)"),
        ("status", f"if(sp_status_code = {_STATUS_CODE_ERROR}, 'ERROR', 'SUCCESS')"),
        ("status_message", "sp_status_message"),
        ("attributes", object_json("sp_attributes")),
        ("resource_attributes", "resource_attributes"),
        ("scope_attributes", "scope_attributes"),
        ("events", _events_json()),
        ("links", _links_json()),
        ("provider", f"lowerUTF8({a.at('s', a.first(cv.PROVIDER_KEYS))})"),
        ("_request_model", request_model),
        ("model", model),
        ("request_model", "_request_model"),
        ("_input_tokens", minus_one(input_c1)),
        ("_output_tokens", minus_one(output_c1)),
        ("input_tokens", "_input_tokens"),
        ("output_tokens", "_output_tokens"),
        ("total_tokens", f"if({total_c1} > 0, {total_c1} - 1, _input_tokens + _output_tokens)"),
        ("_cache_read_tokens", minus_one(a.first_count_plus_one(cv.CACHE_READ_TOKEN_KEYS))),
        ("_cache_write_tokens", minus_one(a.first_count_plus_one(cv.CACHE_WRITE_TOKEN_KEYS))),
        ("cache_read_tokens", "_cache_read_tokens"),
        ("cache_write_tokens", "_cache_write_tokens"),
        ("reasoning_tokens", minus_one(a.first_count_plus_one(cv.REASONING_TOKEN_KEYS))),
        ("cost_usd", cost_decimal),
        ("_input", input_text),
        ("_output", output_text),
        ("input", f"if(_input = '', {_event_text(*cv.GEN_AI_PROMPT_EVENT)}, _input)"),
        ("output", f"if(_output = '', {_event_text(*cv.GEN_AI_COMPLETION_EVENT)}, _output)"),
        ("session_id", a.first_text(cv.SESSION_ID_KEYS)),
        ("user_id", a.first_text(cv.USER_ID_KEYS)),
        ("environment", f"if(resource_environment != '', resource_environment, {a.first_text(cv.ENVIRONMENT_KEYS)})"),
    ]


def _events_json() -> str:
    item = (
        "concat('{\"name\":', toJSONString(e.name), ',\"time_unix_nano\":', toString(e.time_unix_nano), "
        f"',\"attributes\":', {object_json('e.attributes')}, '}}')"
    )
    return f"concat('[', arrayStringConcat(arrayMap(e -> {item}, sp_events), ','), ']')"


def _links_json() -> str:
    item = (
        "concat('{\"trace_id\":\"', lower(hex(l.trace_id)), '\",\"span_id\":\"', lower(hex(l.span_id)), "
        f"'\",\"trace_state\":', toJSONString(l.trace_state), ',\"attributes\":', {object_json('l.attributes')}, '}}')"
    )
    return f"concat('[', arrayStringConcat(arrayMap(l -> {item}, sp_links), ','), ']')"


# --- the whole view --------------------------------------------------------------------------


def _indent(items: Sequence[str], spaces: int) -> str:
    pad = " " * spaces
    return ",\n".join(pad + item for item in items)


def render_view(database: str, view: str) -> str:
    """The CREATE MATERIALIZED VIEW statement of the view named `view`."""
    span = AttributeArrays("a")
    resource = AttributeArrays("r")
    service = resource.ix(cv.SERVICE_NAME)
    resource_columns = [
        *resource.columns("rs.resource.attributes"),
        f"if({resource.at('t', service)} = {T_STR} AND {resource.at('s', service)} != '', "
        f"{resource.at('s', service)}, {lit(cv.DEFAULT_SERVICE_NAME)}) AS service_name",
        f"{object_json('rs.resource.attributes')} AS resource_attributes",
        f"{resource.first_text(cv.ENVIRONMENT_KEYS)} AS resource_environment",
    ]
    items = span_select_items(span)
    columns = [f"{sql} AS {name}" for name, sql in items]
    text = Template(_SQL.joinpath("otlp_spans_view.sql").read_text("utf-8")).substitute(
        database=database,
        view=view,
        span_columns=_indent(columns, 4),
        attribute_arrays=_indent(span.columns("sp.attributes"), 8),
        resource_columns=_indent(resource_columns, 16),
        scope_attributes=object_json("ss.scope.attributes"),
        max_time_ns=str(MAX_TIME_NS),
    )
    return text


def view_name(database: str) -> str:
    """`otlp_spans_mv_<hash of the rendered SQL>`: a changed mapping is a new view."""
    digest = hashlib.sha256(render_view(database, VIEW_PREFIX).encode()).hexdigest()[:16]
    return VIEW_PREFIX + digest


def render_raw_table(database: str) -> str:
    return Template(_SQL.joinpath("otlp_ingest.sql").read_text("utf-8")).substitute(
        database=database, key_values=key_values_type()
    )


def install(client: Client, database: str) -> str:
    """Create the raw table and this release's view, then drop views of other mappings.

    Safe while writers insert: the new view exists before any old one goes (for a moment both map
    an insert; the spans table's ReplacingMergeTree folds the copies). Of views created concurrently
    by different releases, only those older than ours are dropped, so at least one always remains.
    """
    client.command(render_raw_table(database))
    name = view_name(database)
    client.command(render_view(database, name))
    rows = client.query(
        "SELECT name, metadata_modification_time FROM system.tables WHERE database = {db:String} "
        "AND startsWith(name, {prefix:String})",
        parameters={"db": database, "prefix": VIEW_PREFIX},
    ).result_rows
    created = {str(r[0]): r[1] for r in rows}
    mine = created.get(name)
    for other, when in created.items():
        if other != name and mine is not None and when <= mine:
            client.command(f"DROP VIEW IF EXISTS {database}.{other}")
            logger.info("engine mapping view dropped database=%s view=%s", database, other)
    logger.info("engine mapping ready database=%s view=%s", database, name)
    return name


def convention_keys() -> set[str]:
    """Every attribute key and value the conventions module holds (the render must use each)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, tuple | list):
            for v in value:
                walk(v)

    for name, value in vars(cv).items():
        if name.isupper() and not name.startswith("PLAIN_"):
            walk(value)
    return found


def price_table_json() -> str:
    """The price table as the engine renders it (for tests and logs)."""
    return json.dumps({k: list(v) for k, v in PRICES.items()}, sort_keys=True)
