"""The span mapping as ClickHouse SQL: raw OTLP requests in, `spans` rows out, no Python per span.

`collector/mapping.py` walks every attribute of every span in Python; here ClickHouse does the same
work while it parses the request (format Protobuf, `proto/otlp_ingest.proto`): the inserter writes
the raw `ExportTraceServiceRequest` bytes into the Null table `otlp_ingest`, and a chain of
materialized views maps them into `spans`. The SQL is RENDERED from the tables the Python mapping
reads (`collector/conventions.py`, `collector/model_prices.json`, `model/span.py`): a convention
added there changes both mappings, and tests/unit/test_engine_mapping.py proves they agree.

Every attribute of a span (resource, scope, span, events, links) is first split into flat arrays
(key, type, JSON, scalars); a convention lookup is then one `indexOf` over the reversed keys (the
last duplicate wins, as in a dict). Columns are computed in stages (`Plan`), one view per stage:
ClickHouse analyses a view's SQL at every insert, and nested SELECTs, repeated aliases and the
nested AnyValue type each make that analysis slower.

The chain's names carry a hash of its SQL (`version`), so installing is idempotent and safe
while writers insert: the new chain is created, then older ones are dropped (`install`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template

from clickhouse_connect.driver.client import Client

from prela.collector import conventions as cv
from prela.collector.mapping import SPAN_KINDS
from prela.collector.pricing import PRICES
from prela.model.span import MAX_COST_USD, SPAN_COLUMNS, SPAN_TYPES
from prela.model.timestamps import MAX_TIME_NS

logger = logging.getLogger(__name__)

_SQL = resources.files("prela.exporters") / "sql" / "engine"
RAW_TABLE = "otlp_ingest"
VIEW_PREFIX = "otlp_spans_mv_"
PROTO_MESSAGE = "Req"
# AnyValue nests by explicit levels (ClickHouse reads no recursive message); see the .proto.
DEPTH = 5
_STATUS_CODE_ERROR = 2
_MAX_COUNT_PLUS_ONE = "9223372036854775808."  # counts are in [0, 2^63): a float below this truncates in range
# Python's float() syntax (finite numbers): what `int(float(text))` and `float(text)` accept.
_PY_FLOAT = r"^[ \t\n\x0b\x0c\r\x1c-\x1f]*[+-]?([0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?[ \t\n\x0b\x0c\r\x1c-\x1f]*$"

# Type codes of an attribute value (0: absent or not set, Python's None).
T_NONE, T_STR, T_BOOL, T_INT, T_DOUBLE, T_ARRAY, T_KVLIST, T_BYTES = range(8)


def proto_path() -> Path:
    """The trimmed OTLP schema ClickHouse parses the requests with, as shipped (a file of the package)."""
    return Path(str(resources.files("prela.proto") / "otlp_ingest.proto"))


def proto_schema() -> str:
    """`proto_path`'s text, for a server that cannot read this machine's files."""
    return proto_path().read_text("utf-8")


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
        # The children of an array and of a kvlist are written by ONE copy of the next level's SQL
        # (over both lists concatenated), bound once through a one-element arrayMap: the SQL grows
        # linearly with the depth, not twice per level.
        n = level + 1
        arr, kvs = f"{v}.array_value[-1].values", f"{v}.kvlist_value[-1].values"
        cj, na, kk = f"cj{n}", f"na{n}", f"kk{n}"
        children = f"arrayMap(x{n} -> {value_json(f'x{n}', n)}, arrayConcat({arr}, arrayMap(p{n} -> p{n}.value, {kvs})))"
        array_json = f"concat('[', arrayStringConcat(arraySlice({cj}, 1, {na}), ','), ']')"
        pairs = f"arrayMap((k{n}, j{n}) -> concat(toJSONString(k{n}), ':', j{n}), {kk}, arraySlice({cj}, {na} + 1))"
        kv_json = f"concat('{{', arrayStringConcat(arrayFilter((q{n}, m{n}) -> m{n}, {pairs}, {last_of_each_key(kk)}), ','), '}}')"
        nested = (
            f"arrayMap(({cj}, {na}, {kk}) -> if(notEmpty({v}.array_value), {array_json}, {kv_json}), "
            f"[{children}], [length({arr})], [arrayMap(p{n} -> p{n}.key, {kvs})])[1]"
        )
        parts.append(f"notEmpty({v}.array_value) OR notEmpty({v}.kvlist_value), {nested}")
    parts.append(f"notEmpty({v}.bytes_value), concat('\"', base64Encode({v}.bytes_value[-1]), '\"')")
    return f"multiIf({', '.join(parts)}, 'null')"


def last_of_each_key(keys: str) -> str:
    """SQL: a mask keeping, of each key, its last occurrence (a dict's last duplicate wins)."""
    return f"arrayReverse(arrayMap(u -> u = 1, arrayEnumerateUniq(arrayReverse({keys}))))"


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
    point = f"(length({int_part}) - {lead} + {exp})"  # value = 0.<digits> * 10^point
    n = f"length({digits})"
    fixed = (
        f"multiIf({point} <= 0, concat('0.', repeat('0', toUInt64(-{point})), {digits}), "
        f"{point} >= {n}, concat({digits}, repeat('0', toUInt64({point} - {n})), '.0'), "
        f"concat(substring({digits}, 1, {point}), '.', substring({digits}, {point} + 1)))"
    )
    sci_exp = f"({point} - 1)"  # at least two digits, as Python writes them (leftPad would cut 100 to 10)
    sci = (
        f"concat(substring({digits}, 1, 1), if({n} > 1, concat('.', substring({digits}, 2)), ''), 'e', "
        f"if({sci_exp} < 0, '-', '+'), if(abs({sci_exp}) < 10, '0', ''), toString(abs({sci_exp})))"
    )
    sign = f"if(startsWith(toString({d}), '-'), '-', '')"
    body = f"multiIf({digits} = '', '0.0', {sci_exp} >= -4 AND {sci_exp} < 16, {fixed}, {sci})"
    return f"multiIf(isNaN({d}), 'nan', isInfinite({d}), if({d} > 0, 'inf', '-inf'), concat({sign}, {body}))"


def py_float(text: str) -> str:
    """SQL: Python's `float(text)` for finite syntax, else NULL."""
    cleaned = f"replaceRegexpAll({text}, '^[ \\t\\n\\x0b\\x0c\\r\\x1c-\\x1f]+|[ \\t\\n\\x0b\\x0c\\r\\x1c-\\x1f]+$|_', '')"
    return f"if(match({text}, {lit(_PY_FLOAT)}), toFloat64OrNull({cleaned}), NULL)"


# --- staged columns ----------------------------------------------------------------------------


_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


class Plan:
    """Columns computed in stages, each stage a SELECT over the one before.

    ClickHouse inlines an alias into every expression using it, so a value used ten times is
    analysed ten times (and a lookup of a lookup explodes); but each nested SELECT costs analysis
    too. So a column lives in the SELECT of its dependencies when, inlined, it stays small
    (`LIGHT` characters), else one SELECT later. Stage 0 is the per-span layer (`otlp_spans_flat.sql`);
    `col` returns the name of the column (an identical expression is computed once).
    """

    LIGHT = 1500

    def __init__(self, stage0: Sequence[str]) -> None:
        self._stage: dict[str, int] = dict.fromkeys(stage0, 0)
        self._size: dict[str, int] = dict.fromkeys(stage0, 0)
        self.deps: dict[str, frozenset[str]] = {}
        self._by_expr: dict[str, str] = {}
        self.stages: list[list[tuple[str, str]]] = []

    def _light(self, name: str) -> bool:
        return self._stage[name] > 0 and self._size[name] <= self.LIGHT

    def col(self, expr: str, *deps: str, name: str | None = None, heavy: bool = False) -> str:
        if name is None and expr in self._by_expr:
            return self._by_expr[expr]
        # Dependencies are the known columns the expression names (`deps` must all be known); a
        # lambda parameter or literal spelled like a column only passes that column on, harmlessly.
        unknown = [d for d in deps if _IDENTIFIER.fullmatch(d) and d not in self._stage]
        if unknown:
            raise ValueError(f"column {name!r} depends on undefined {unknown}")
        used = frozenset(_IDENTIFIER.findall(expr)) & self._stage.keys()
        size = len(expr) + sum(
            len(re.findall(rf"\b{re.escape(d)}\b", expr)) * self._size[d] for d in used if self._light(d)
        )
        stage = max((self._stage[d] + (0 if self._light(d) else 1) for d in used), default=1)
        name = name or f"c{len(self._stage)}"
        if name in self._stage:
            raise ValueError(f"column {name!r} defined twice")
        self._stage[name] = stage
        self._size[name] = self.LIGHT + 1 if heavy else size
        self.deps[name] = used
        while len(self.stages) < stage:
            self.stages.append([])
        self.stages[stage - 1].append((name, expr))
        self._by_expr.setdefault(expr, name)
        return name

    def hops(self, source: str, columns: Sequence[str], where: str | None = None) -> list[str]:
        """One SELECT per stage: the first over `source` (stage 0, a SELECT), each next over the
        previous one's output (a table, `{prev}`); each passes on only what later stages use and
        the last yields `columns` (of the rows where the column `where` holds)."""
        needed = set(columns) | ({where} if where else set())
        keep: list[set[str]] = []
        for stage in reversed(self.stages):
            keep.append(set(needed))
            for name, _ in stage:
                needed |= self.deps[name]
            needed -= {name for name, _ in stage}
        keep.reverse()
        selects = []
        for number, stage in enumerate(self.stages, start=1):
            defined = {name for name, _ in stage}
            passed = sorted(keep[number - 1] - defined)
            items = _indent([*passed, *(f"{expr} AS {name}" for name, expr in stage)], 4)
            origin = f"(\n{source}\n)" if number == 1 else "${prev}"
            selects.append(f"SELECT\n{items}\nFROM {origin}")
        condition = f"\nWHERE {where}" if where else ""
        selects[-1] = f"SELECT {', '.join(columns)}\nFROM\n(\n{selects[-1]}\n){condition}"
        return selects


# --- one attribute list as parallel arrays, and the lookups over them -------------------------

_ARRAY_NAMES = ("k", "r", "n", "t", "j", "s", "x", "b", "f", "c", "keep", "len")
_ALL_ARRAYS = ("k", "t", "j", "sv", "bv", "iv", "dv", "len")


def _value_arrays() -> dict[str, str]:
    """SQL per `all_*` array: the element of one KeyValue `kv` (the nested AnyValue SQL, once)."""
    v = "kv.value"
    return {
        "k": "kv.key",
        "t": type_code(v),
        "j": value_json(v),
        "sv": f"multiIf(notEmpty({v}.string_value), {v}.string_value[-1], notEmpty({v}.bytes_value), "
        f"base64Encode({v}.bytes_value[-1]), '')",
        "bv": f"{v}.bool_value[-1]",
        "iv": f"{v}.int_value[-1]",
        "dv": f"{v}.double_value[-1]",
        "len": f"length({v}.array_value[1].values) + length({v}.kvlist_value[1].values)",
    }


def render_first_steps(database: str) -> list[str]:
    """The chain's first three SELECTs (`otlp_step*.sql`): the request's KeyValues converted once
    (one row per request), then one row per valid span with its `all_*` slices."""
    elements = _value_arrays()
    request_arrays = [f"arrayMap(kv -> {elements[n]}, request_kv) AS r_all_{n}" for n in _ALL_ARRAYS]
    span_arrays = [
        f"arrayMap((r, s, i, fe, ce, fl, cl) -> arrayConcat(arraySlice(r_all_{n}, res_at[r], n_res[r]), "
        f"arraySlice(r_all_{n}, scope_at[s], n_scope[s]), arraySlice(r_all_{n}, span_at[i], n_span[i]), "
        f"arraySlice(r_all_{n}, if(ce > 0, event_at[fe], 1), arraySum(arraySlice(n_event, fe, ce))), "
        f"arraySlice(r_all_{n}, if(cl > 0, link_at[fl], 1), arraySum(arraySlice(n_link, fl, cl)))), "
        f"s_resources, s_scopes, arrayEnumerate(s_trace_id), first_event, events_per_span, first_link, "
        f"links_per_span) AS s_all_{n}"
        for n in _ALL_ARRAYS
    ]
    values = {
        "database": database,
        "request_arrays": _indent(request_arrays, 4),
        "span_arrays": _indent(span_arrays, 8),
        "span_array_join": _indent([f"s_all_{n} AS all_{n}" for n in _ALL_ARRAYS], 4),
        "max_time_ns": str(MAX_TIME_NS),
    }
    return [
        Template(_SQL.joinpath(f"{name}.sql").read_text("utf-8")).safe_substitute(values)
        for name in ("otlp_step1_request", "otlp_step2_values", "otlp_step3_spans")
    ]


def _object(keys: str, values: str) -> str:
    """SQL: a JSON object of keys and JSON values (last duplicate key wins)."""
    pairs = f"arrayMap((ok, oj) -> concat(toJSONString(ok), ':', oj), {keys}, {values})"
    return f"concat('{{', arrayStringConcat(arrayFilter((op, om) -> om, {pairs}, {last_of_each_key(keys)}), ','), '}}')"


class AttributeArrays:
    """Lookups into one attribute list split into arrays named `<p>_k`, `<p>_t`, … (`columns`).

    Index 0 means absent: ClickHouse reads `arr[0]` as the element type's default (0, '', NULL),
    which is what an absent key must read as. Lookups are staged columns of the plan.
    """

    def __init__(self, prefix: str, plan: Plan | None = None) -> None:
        self.p = prefix
        self.plan = plan
        self.keys: list[str] = []  # the keys looked up (`ix`), in the order of `<p>_ix`
        # A column true on model-call spans: MODEL_CALL_ONLY_KEYS read as absent where it is false.
        self.model_call: str | None = None

    def names(self) -> list[str]:
        return [f"{self.p}_{n}" for n in _ARRAY_NAMES]

    def add_columns(self, offset: str, length: str, *deps: str) -> None:
        """Stage the arrays: the slice [offset, offset + length) of the `all_*` arrays (step 3);
        `deps` are the columns the two expressions read."""
        p, col = self.p, _plan(self).col
        for n in ("k", "t", "j", "sv", "bv", "iv", "dv", "len"):
            col(f"arraySlice(all_{n}, {offset}, {length})", f"all_{n}", *deps, name=f"{p}_{n}")
        col(f"arrayReverse({p}_k)", f"{p}_k", name=f"{p}_r")
        col(f"length({p}_k)", f"{p}_k", name=f"{p}_n")
        col(last_of_each_key(f"{p}_k"), f"{p}_k", name=f"{p}_keep")
        # Every key looked up (`ix`) by two expressions instead of one per key (each costs analysis at
        # every insert): each attribute's slot in the list of keys (a hash lookup; the list is filled
        # in by `render_chain` once all keys are known), then each slot's last attribute, by integers.
        col(
            f"arrayMap(k -> transform(k, ${{{p}_keys}}, ${{{p}_slots}}, 0), {p}_r)",
            f"{p}_r",
            name=f"{p}_slot",
        )
        col(
            f"arrayMap(s -> if(indexOf({p}_slot, s) = 0, 0, {p}_n + 1 - indexOf({p}_slot, s)), ${{{p}_range}})",
            f"{p}_slot", f"{p}_n", name=f"{p}_ix", heavy=True,
        )  # fmt: skip
        t, sv, bv, iv, dv, j = (f"{p}_{n}" for n in ("t", "sv", "bv", "iv", "dv", "j"))
        # Python's str(value) of scalars (str(True) == 'True'; floats: see `py_str`), bytes as base64;
        # arrays and kvlists as JSON (Python would write its repr: a known difference)
        col(
            f"arrayMap((t, sv, bv, iv, dv, j) -> multiIf(t IN ({T_STR}, {T_BYTES}), sv, t = {T_BOOL}, "
            f"if(bv, 'True', 'False'), t = {T_INT}, toString(iv), t = {T_DOUBLE}, toString(dv), "
            f"t = {T_NONE}, '', j), {t}, {sv}, {bv}, {iv}, {dv}, {j})",
            t, sv, bv, iv, dv, j, name=f"{p}_s",
        )  # fmt: skip
        # `_text(value)`: strings and base64 as they are, anything else as JSON
        col(
            f"arrayMap((t, s, j) -> if(t IN ({T_STR}, {T_BYTES}), s, j), {t}, {p}_s, {j})",
            t, f"{p}_s", j, name=f"{p}_x",
        )  # fmt: skip
        # Python truthiness of the value
        col(
            f"arrayMap((t, s, bv, iv, dv, n) -> multiIf(t IN ({T_STR}, {T_BYTES}), s != '', t = {T_BOOL}, bv, "
            f"t = {T_INT}, iv != 0, t = {T_DOUBLE}, dv != 0, t IN ({T_ARRAY}, {T_KVLIST}), n > 0, false), "
            f"{t}, {p}_s, {bv}, {iv}, {dv}, {p}_len)",
            t, f"{p}_s", bv, iv, dv, f"{p}_len", name=f"{p}_b",
        )  # fmt: skip
        # float(value) as `_as_float` reads it (bool and structures: NULL)
        col(
            f"arrayMap((t, s, iv, dv) -> multiIf(t = {T_INT}, toFloat64(iv), t = {T_DOUBLE}, dv, "
            f"t IN ({T_STR}, {T_BYTES}), {py_float('s')}, NULL), {t}, {p}_s, {iv}, {dv})",
            t, f"{p}_s", iv, dv, name=f"{p}_f",
        )  # fmt: skip
        # `_first_int`: a count in [0, 2^63) plus one, 0 when the value is no count
        col(
            f"arrayMap((t, iv, f) -> multiIf(t = {T_INT}, if(iv >= 0, toUInt64(iv) + 1, 0), "
            f"t IN ({T_DOUBLE}, {T_STR}, {T_BYTES}) AND isFinite(f) AND f > -1 AND f < {_MAX_COUNT_PLUS_ONE}, "
            f"toUInt64(trunc(f)) + 1, 0), {t}, {iv}, {p}_f)",
            t, iv, f"{p}_f", name=f"{p}_c",
        )  # fmt: skip

    def object_json(self) -> str:
        """The attributes as a JSON object, from the arrays (last duplicate wins)."""
        p = self.p
        pairs = f"arrayMap((k, j) -> concat(toJSONString(k), ':', j), {p}_k, {p}_j)"
        return f"concat('{{', arrayStringConcat(arrayFilter((pair, keep) -> keep, {pairs}, {p}_keep), ','), '}}')"

    def _col(self, expr: str, *deps: str) -> str:
        return _plan(self).col(expr, *deps, *self.names())

    def ix_of(self, key_sql: str) -> str:
        p = self.p
        return f"if(indexOf({p}_r, {key_sql}) = 0, 0, {p}_n + 1 - indexOf({p}_r, {key_sql}))"

    def ix(self, key: str) -> str:
        """1-based index of the last `key`, 0 when absent (or when a model-call-only key is on a span
        not typed as a model call: `lift_all_llm_fields` drops those keys)."""
        if key not in self.keys:
            self.keys.append(key)
        found = f"{self.p}_ix[{self.keys.index(key) + 1}]"
        if self.model_call is None or key not in cv.MODEL_CALL_ONLY_KEYS:
            return found
        return self._col(f"if({self.model_call}, {found}, 0)", found, self.model_call)

    def py_strs(self, indices: Sequence[str]) -> list[str]:
        """SQL: Python's `str(value)` of the values at `indices`, floats as `repr` writes them (laid out
        for these few values, not for every attribute; by ONE lambda: its SQL is large to analyse)."""
        p = self.p
        doubles = ", ".join(f"{p}_dv[{i}]" for i in indices)
        reprs = _plan(self).col(f"arrayMap(d -> {py_repr_float('d')}, [{doubles}])", *indices, f"{p}_dv")
        return [
            f"if({p}_t[{i}] = {T_DOUBLE}, {reprs}[{n}], {p}_s[{i}])" for n, i in enumerate(indices, start=1)
        ]

    def at(self, array: str, index: str) -> str:
        return f"{self.p}_{array}[{index}]"

    def present(self, key: str) -> str:
        """`key in attrs`."""
        return f"has({self.p}_k, {lit(key)})"

    def first(self, keys: Sequence[str]) -> str:
        """Index of `mapping._first(attrs, keys)`: the first key set and not "", else 0."""
        if not keys:
            return "0"
        indices = [self.ix(k) for k in keys]
        branches = [
            f"{self.at('t', i)} != {T_NONE} AND NOT ({self.at('t', i)} IN ({T_STR}, {T_BYTES}) "
            f"AND {self.at('s', i)} = ''), {i}"
            for i in indices
        ]
        return self._col(f"multiIf({', '.join(branches)}, 0)", *indices)

    def first_text(self, keys: Sequence[str]) -> str:
        """`mapping._first_text`."""
        first = self.first(keys)
        return self._col(self.at("x", first), first)

    def first_count(self, keys: Sequence[str]) -> str:
        """`mapping._first_int` + 1, 0 for None."""
        if not keys:
            return "toUInt64(0)"
        indices = [self.ix(k) for k in keys]
        branches = [f"{self.at('c', i)} > 0, {self.at('c', i)}" for i in indices]
        return self._col(f"multiIf({', '.join(branches)}, toUInt64(0))", *indices)


def _as_float(x: str) -> str:
    """SQL: `mapping._as_float` on an already parsed Nullable(Float64)."""
    return f"if({x} >= 0 AND {x} < {MAX_COST_USD!r}, {round12(x)}, NULL)"


def round12(x: str) -> str:
    # Above 9007 the float grid is coarser than 1e-12: Python's round() returns the value unchanged.
    return f"if(abs({x}) >= 9007., {x}, round({x}, 12))"


def _transform(value: str, table: dict[str, str], default: str = "''") -> str:
    keys = list(table)
    return f"transform({value}, {_lits(keys)}, {_lits([table[k] for k in keys])}, {default})"


def _types(types: Sequence[str]) -> str:
    return "(" + ", ".join(lit(t) for t in types) + ")"


# --- the LLM fields --------------------------------------------------------------------------


def span_type_sql(a: AttributeArrays) -> str:
    """`mapping.span_type_of`: the first rule whose (string) value is known."""
    plan = _plan(a)
    rules = []
    deps = []
    i = a.ix(cv.PRELA_SPAN_TYPE)
    deps.append(i)
    upper = f"upperUTF8({a.at('s', i)})"
    rules.append(f"{a.at('t', i)} = {T_STR} AND has({_lits(sorted(SPAN_TYPES))}, {upper}), {upper}")
    for key, table in (
        (cv.OPENINFERENCE_SPAN_KIND, cv.OPENINFERENCE_SPAN_KINDS),
        (cv.GEN_AI_OPERATION_NAME, cv.GEN_AI_OPERATIONS),
        (cv.TRACELOOP_SPAN_KIND, cv.TRACELOOP_SPAN_KINDS),
        (cv.LLM_REQUEST_TYPE, cv.LLM_REQUEST_TYPES),
        (cv.VERCEL_AI_OPERATION_ID, cv.VERCEL_AI_OPERATIONS),
    ):
        i = a.ix(key)
        lowered = f"lowerUTF8({a.at('s', i)})"
        found = plan.col(f"if({a.at('t', i)} = {T_STR}, {_transform(lowered, table)}, '')", i, *a.names())
        deps.append(found)
        rules.append(f"{found} != '', {found}")
    if cv.GEN_AI_MODEL_MARKERS:
        rules.append(" OR ".join(a.present(k) for k in cv.GEN_AI_MODEL_MARKERS) + ", 'LLM'")
    return plan.col(f"multiIf({', '.join(rules)}, 'CUSTOM')", *deps, *a.names(), name="span_type")


def _plan(a: AttributeArrays) -> Plan:
    if a.plan is None:
        raise ValueError("span attributes need a plan")
    return a.plan


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
    plan = _plan(a)
    found = []
    for key in cv.INVOCATION_PARAMETER_KEYS:
        i = a.ix(key)
        t, s = a.at("t", i), a.at("s", i)
        doc = plan.col(
            f"multiIf({t} IN ({T_STR}, {T_BYTES}) AND isValidJSON({s}), {s}, {t} = {T_KVLIST}, {a.at('j', i)}, '')",
            i,
            *a.names(),
        )
        model = f"if({_json_truthy(doc, 'model')}, {_json_string(doc, 'model')}, {_json_string(doc, 'model_name')})"
        found.append(plan.col(f"if(JSONType({doc}) = 'Object', {model}, '')", doc))
    if not found:
        return plan.col("''")
    return plan.col(f"arrayFirst(m -> m != '', [{', '.join(found)}])", *found)


def price_sql(plan: Plan, model: str, tokens: dict[str, str]) -> str:
    """`pricing.cost_usd`: the price table, exact name first, else the longest prefix at a boundary."""
    names = sorted(PRICES, key=len, reverse=True)
    lower = plan.col(f"lowerUTF8(replaceRegexpAll({model}, '^\\\\s+|\\\\s+$', ''))", model)
    last = plan.col(f"splitByChar('/', {lower})[-1]", lower)
    name = plan.col(
        f"if(position({last}, 'anthropic.') > 0, substring({last}, position({last}, 'anthropic.') + 10), {last})",
        last,
    )
    keys = _lits(names)
    index = plan.col(
        f"if(indexOf({keys}, {name}) > 0, indexOf({keys}, {name}), arrayFirstIndex(k -> startsWith({name}, k) "
        f"AND length({name}) > length(k) AND position('-@:_', substring({name}, length(k) + 1, 1)) > 0, {keys}))",
        name,
    )

    def price(field: str) -> str:
        return "[" + ", ".join(repr(float(getattr(PRICES[n], field))) for n in names) + f"][{index}]"

    cr = f"toInt128({tokens['cache_read']})"
    cw = f"toInt128({tokens['cache_write']})"
    uncached = f"greatest(toInt128(0), toInt128({tokens['input']}) - {cr} - {cw})"
    total = (
        f"toFloat64({uncached}) * {price('input')} + toFloat64({cr}) * {price('cache_read')} "
        f"+ toFloat64({cw}) * {price('cache_write')} + toFloat64({tokens['output']}) * {price('output')}"
    )
    return plan.col(
        f"if({model} = '' OR {index} = 0, 0., round(({total}) * 1e-06, 12))", model, index, *tokens.values()
    )


def family_sql(a: AttributeArrays, family: tuple[str, str, tuple[str, ...]]) -> str:
    """`mapping._indexed_messages`: `<prefix>N.role/content` probed from 0; a family with a message
    lacking content (tool calls, multimodal parts) is scanned whole (`_scan_family`). '' if none."""
    plan = _plan(a)
    names = a.names()
    prefix, strip, probes = family
    p = a.p

    def key_at(i: str, member: str) -> str:
        return f"concat({lit(prefix)}, toString({i}), {lit('.' + strip + member)})"

    # index of each `<prefix>N.content` from 0, probed only when a key of the family is there
    contents = plan.col(
        f"if(arrayExists(k -> startsWith(k, {lit(prefix)}), {p}_k), "
        f"arrayMap(i -> {a.ix_of(key_at('i', 'content'))}, range(toUInt64({p}_n + 1))), [0])",
        *names,
    )
    missing = plan.col(
        f"toUInt64(arrayFirstIndex(c -> {p}_t[c] = {T_NONE}, {contents}) - 1)", contents, *names
    )
    probed = " OR ".join(a.present(k) for k in probes) or "false"
    scan = plan.col(
        f"{p}_t[{a.ix_of(key_at(missing, 'role'))}] != {T_NONE} OR ({missing} = 0 AND ({probed}))",
        missing,
        *names,
    )
    role_ix = a.ix_of(key_at("i", "role"))
    message = (
        f"if({p}_t[{role_ix}] != {T_NONE}, concat('{{\"role\":', {p}_j[{role_ix}], ',\"content\":', "
        f"{p}_j[{contents}[i + 1]], '}}'), concat('{{\"content\":', {p}_j[{contents}[i + 1]], '}}'))"
    )
    probed_json = f"concat('[', arrayStringConcat(arrayMap(i -> {message}, range({missing})), ','), ']')"
    # the full scan: every `<prefix><digits>.<member>` key, grouped by the number
    plen = len(prefix)
    pattern = "^" + "".join(ch if ch.isalnum() else "\\" + ch for ch in prefix) + "[0-9]+\\."
    selected = plan.col(
        f"if({scan}, arrayFilter((i, kept) -> kept AND match({p}_k[i], {lit(pattern)}), arrayEnumerate({p}_k), "
        f"{p}_keep), [])",
        scan,
        *names,
    )
    dot = f"position({p}_k[i], '.', {plen + 1})"
    number = f"toUInt64OrZero(substring({p}_k[i], {plen + 1}, {dot} - {plen + 1}))"
    member_raw = f"substring({p}_k[i], {dot} + 1)"
    member = (
        f"if(startsWith({member_raw}, {lit(strip)}), substring({member_raw}, {len(strip) + 1}), {member_raw})"
        if strip
        else member_raw
    )
    numbers = plan.col(f"arrayMap(i -> {number}, {selected})", selected, *names)
    pairs = plan.col(
        f"arrayMap(i -> concat(toJSONString({member}), ':', {p}_j[i]), {selected})", selected, *names
    )
    group = f"concat('{{', arrayStringConcat(arrayFilter((pair, n) -> n = g, {pairs}, {numbers}), ','), '}}')"
    scanned = f"concat('[', arrayStringConcat(arrayMap(g -> {group}, arraySort(arrayDistinct({numbers}))), ','), ']')"
    return plan.col(
        f"multiIf({scan}, {scanned}, {missing} > 0, {probed_json}, '')",
        scan,
        missing,
        numbers,
        pairs,
        contents,
        *names,
    )


def _maybe_json(a: AttributeArrays, i: str) -> str:
    """JSON text of `mapping._maybe_json(value)`: a string that parses as JSON is that JSON."""
    t, s = a.at("t", i), a.at("s", i)
    return _plan(a).col(
        f"multiIf({t} IN ({T_STR}, {T_BYTES}), if(isValidJSON({s}), {s}, toJSONString({s})), {a.at('j', i)})",
        i,
        *a.names(),
    )


def gen_ai_input_sql(a: AttributeArrays) -> str:
    """`mapping._gen_ai_input`: input messages, led by the system instructions; NULL when neither."""
    plan = _plan(a)
    mi, si = a.first(cv.INPUT_MESSAGES_KEYS), a.ix(cv.GEN_AI_SYSTEM_INSTRUCTIONS)
    parts = _maybe_json(a, si)
    parts_list = plan.col(
        f"if(JSONType({parts}) = 'Array', {parts}, concat('[{{\"type\":\"text\",\"content\":', {parts}, '}}]'))",
        parts,
    )
    messages = _maybe_json(a, mi)
    inner = f"trimBoth(replaceRegexpAll({messages}, '^\\\\s*\\\\[|\\\\]\\\\s*$', ''))"
    tail = plan.col(
        f"multiIf({a.at('t', mi)} = {T_NONE}, '', JSONType({messages}) = 'Array', {inner}, {messages})",
        messages,
        mi,
        *a.names(),
    )
    combined = (
        f'concat(\'[{{"role":"system","parts":\', {parts_list}, \'}}\', '
        f"if({tail} != '', concat(',', {tail}), ''), ']')"
    )
    return plan.col(
        f"multiIf({a.at('t', si)} != {T_NONE}, {combined}, {a.at('t', mi)} != {T_NONE}, {a.at('x', mi)}, NULL)",
        parts_list,
        tail,
        mi,
        si,
        *a.names(),
    )


def reported_cost_sql(a: AttributeArrays) -> str:
    """`mapping._reported_cost`: the first cost at one of COST_JSON_PATHS (a JSON attribute, then
    members), as `_as_float` reads it; NULL when none."""
    plan = _plan(a)
    found = []
    for key, path in cv.COST_JSON_PATHS:
        doc = _maybe_json(a, a.ix(key))
        at = ", ".join([doc, *(lit(m) for m in path)])
        number = (
            f"multiIf(JSONType({at}) IN ('Int64', 'UInt64', 'Double'), JSONExtractFloat({at}), "
            f"JSONType({at}) = 'String', {py_float(f'JSONExtractString({at})')}, NULL)"
        )
        value = plan.col(number, doc)
        found.append(plan.col(_as_float(value), value))
    return plan.col(f"coalesce({', '.join(found)})", *found) if found else "NULL"


def _event_text(event_name: str, attribute: str) -> str:
    """SQL: `_text` of `attribute` of the first `event_name` span event having it non-empty (read
    from the events JSON: a JSON string is its text, null nothing, anything else its JSON)."""
    path = f"e, 'attributes', {lit(attribute)}"
    text = (
        f"multiIf(JSONType({path}) = 'String', JSONExtractString({path}), JSONType({path}) = 'Null', '', "
        f"JSONExtractRaw({path}))"
    )
    return (
        f"arrayFirst(x -> x != '', arrayMap(e -> if(JSONExtractString(e, 'name') = {lit(event_name)}, {text}, ''), "
        "JSONExtractArrayRaw(events)))"
    )


def content_sql(
    a: AttributeArrays,
    whole: str,
    families: Sequence[tuple[str, str, tuple[str, ...]]],
    value_keys: Sequence[str],
    event: tuple[str, str],
    name: str,
) -> str:
    """`mapping._content`: whole messages, else the first indexed family, else the first value key;
    then the deprecated content span event."""
    plan = _plan(a)
    found = [family_sql(a, f) for f in families]
    text = a.first_text(value_keys)
    candidates = [whole, *(f"nullIf({f}, '')" for f in found), text]
    content = plan.col(f"coalesce({', '.join(candidates)})", whole, *found, text)
    from_event = plan.col(_event_text(*event), "events")
    return plan.col(f"if({content} = '', {from_event}, {content})", content, from_event, name=name)


def span_columns(plan: Plan, a: AttributeArrays) -> None:
    """Every spans column as a named column of `plan`."""
    names = a.names()
    col = plan.col
    col("lower(hex(sp_trace_id))", name="trace_id")
    col("lower(hex(sp_span_id))", name="span_id")
    col("lower(hex(sp_parent_span_id))", name="parent_span_id")
    col("sp_trace_state", name="trace_state")
    col("sp_name", name="name")
    span_type_sql(a)
    a.model_call = col(f"span_type IN {_types(cv.MODEL_CALL_SPAN_TYPES)}", "span_type")
    kinds = _lits(SPAN_KINDS)
    col(f"if(sp_kind >= 0 AND sp_kind < {len(SPAN_KINDS)}, {kinds}[sp_kind + 1], 'UNSPECIFIED')", name="kind")
    col("fromUnixTimestamp64Nano(toInt64(sp_start))", name="started_at")
    col("fromUnixTimestamp64Nano(toInt64(sp_end))", name="ended_at")
    col("if(sp_end > sp_start, sp_end - sp_start, 0)", name="duration_ns")
    col(f"if(sp_status_code = {_STATUS_CODE_ERROR}, 'ERROR', 'SUCCESS')", name="status")
    col("sp_status_message", name="status_message")
    col(a.object_json(), *names, name="attributes")
    scope_k = col("arraySlice(all_k, g_r + 1, g_s)", "all_k", "g_r", "g_s")
    scope_j = col("arraySlice(all_j, g_r + 1, g_s)", "all_j", "g_r", "g_s")
    col(_object(scope_k, scope_j), scope_k, scope_j, name="scope_attributes")
    add_events_and_links(plan)

    provider = a.first(cv.PROVIDER_KEYS)
    requested = a.first(cv.REQUEST_MODEL_KEYS)
    response = a.first(cv.RESPONSE_MODEL_KEYS)
    generic = a.first(cv.GENERIC_MODEL_KEYS)
    # `_first(response) or requested or _first(generic)`: Python truthiness picks
    chosen = col(
        f"if({a.at('b', response)}, {response}, if({a.at('b', requested)}, {requested}, {generic}))",
        response,
        requested,
        generic,
        *names,
    )
    provider_str, requested_str, chosen_str = a.py_strs([provider, requested, chosen])
    lowered = col(f"lowerUTF8({provider_str})", provider, *names)
    col(_transform(lowered, cv.PROVIDER_ALIASES, lowered), lowered, name="provider")
    invocation = invocation_model_sql(a)
    request_model = col(
        f"if({requested} > 0, {requested_str}, {invocation})",
        requested,
        invocation,
        *names,
        name="request_model",
    )
    model = col(f"if({chosen} > 0, {chosen_str}, {request_model})", chosen, request_model, name="model")

    def count(keys: Sequence[str], name: str | None = None) -> str:
        c1 = a.first_count(keys)
        return col(f"if({c1} > 0, toUInt64({c1} - 1), toUInt64(0))", c1, name=name)  # one type, no Variant

    sent_input = count(cv.INPUT_TOKEN_KEYS)
    cache_read = count(cv.CACHE_READ_TOKEN_KEYS, "cache_read_tokens")
    cache_write = count(cv.CACHE_WRITE_TOKEN_KEYS, "cache_write_tokens")
    # INPUT_TOKENS_EXCLUDE_CACHE_SCOPES: the cache tokens counted back into input and total
    cache_added = col(
        f"if(has({_lits(sorted(cv.INPUT_TOKENS_EXCLUDE_CACHE_SCOPES))}, scope_name), "
        f"toUInt128({cache_read}) + {cache_write}, toUInt128(0))",
        "scope_name",
        cache_read,
        cache_write,
    )
    input_wide = col(f"toUInt128({sent_input}) + {cache_added}", sent_input, cache_added)
    tokens = {
        "input": col(f"toUInt64({input_wide})", input_wide, name="input_tokens"),
        "output": count(cv.OUTPUT_TOKEN_KEYS, "output_tokens"),
        "cache_read": cache_read,
        "cache_write": cache_write,
    }
    count(cv.REASONING_TOKEN_KEYS, "reasoning_tokens")
    total = a.first_count(cv.TOTAL_TOKEN_KEYS)
    total_wide = col(
        f"if({total} > 0, toUInt128({total} - 1), toUInt128({sent_input}) + {tokens['output']}) + {cache_added}",
        total,
        sent_input,
        tokens["output"],
        cache_added,
    )
    col(f"toUInt64({total_wide})", total_wide, name="total_tokens")
    # A count beyond UInt64 makes the row unstorable: the Python writer skips it (log_unstorable)
    col(
        f"{input_wide} <= {2**64 - 1} AND {total_wide} <= {2**64 - 1}",
        input_wide,
        total_wide,
        name="storable",
    )

    explicit_at = a.first(cv.COST_TOTAL_KEYS)
    explicit = col(_as_float(a.at("f", explicit_at)), explicit_at, *names)
    part_ix = [a.ix(k) for k in cv.COST_PART_KEYS]
    parts = [col(_as_float(a.at("f", i)), i, *names) for i in part_ix]
    parts_sum = " + ".join(f"coalesce({x}, 0.)" for x in parts) or "0."
    any_part = " OR ".join(f"{x} IS NOT NULL" for x in parts) or "false"
    priced = price_sql(plan, model, tokens)
    reported = reported_cost_sql(a)
    cost = col(
        f"coalesce({explicit}, if({any_part}, {parts_sum}, coalesce({reported}, "
        f"if({model} != '' AND ({tokens['input']} > 0 OR {tokens['output']} > 0), {priced}, 0.))))",
        explicit,
        *parts,
        reported,
        priced,
        model,
        *tokens.values(),
    )
    # Decimal(18, 12) from the float as the Python writer makes it: Decimal(str(x)), truncated
    col(f"toDecimal64OrZero(toString({cost}), 12)", cost, name="cost_usd")

    out_i = a.ix(cv.GEN_AI_OUTPUT_MESSAGES)
    whole_output = col(f"if({a.at('t', out_i)} != {T_NONE}, {a.at('x', out_i)}, NULL)", out_i, *names)
    content_sql(
        a,
        gen_ai_input_sql(a),
        (cv.OPENLLMETRY_PROMPTS, cv.OPENINFERENCE_INPUT_MESSAGES),
        cv.INPUT_VALUE_KEYS,
        cv.GEN_AI_PROMPT_EVENT,
        "input",
    )
    content_sql(
        a,
        whole_output,
        (cv.OPENLLMETRY_COMPLETIONS, cv.OPENINFERENCE_OUTPUT_MESSAGES),
        cv.OUTPUT_VALUE_KEYS,
        cv.GEN_AI_COMPLETION_EVENT,
        "output",
    )
    session = a.first_text(cv.SESSION_ID_KEYS)
    col(session, session, name="session_id")
    user = a.first_text(cv.USER_ID_KEYS)
    col(user, user, name="user_id")
    environment = a.first_text(cv.ENVIRONMENT_KEYS)
    col(
        f"if(resource_environment != '', resource_environment, {environment})",
        environment,
        "resource_environment",
        name="environment",
    )


def add_events_and_links(plan: Plan) -> None:
    """The `events` and `links` JSON columns, from the event/link slices of the `all_*` arrays."""
    col = plan.col
    events_at = col("g_r + g_s + g_a + 1", "g_r", "g_s", "g_a")
    events_k = col(f"arraySlice(all_k, {events_at}, arraySum(ev_n))", "all_k", events_at, "ev_n")
    events_j = col(f"arraySlice(all_j, {events_at}, arraySum(ev_n))", "all_j", events_at, "ev_n")
    starts = col("arrayMap((c, n) -> c - n + 1, arrayCumSum(ev_n), ev_n)", "ev_n")
    attributes = _object(f"arraySlice({events_k}, st, n)", f"arraySlice({events_j}, st, n)")
    item = (
        "concat('{\"name\":', toJSONString(name), ',\"time_unix_nano\":', toString(time), "
        f"',\"attributes\":', {attributes}, '}}')"
    )
    col(
        f"concat('[', arrayStringConcat(arrayMap((name, time, st, n) -> {item}, ev_names, ev_times, {starts}, ev_n), ','), ']')",
        events_k, events_j, starts, "ev_names", "ev_times", "ev_n", name="events",
    )  # fmt: skip
    links_at = col("g_r + g_s + g_a + arraySum(ev_n) + 1", "g_r", "g_s", "g_a", "ev_n")
    links_k = col(f"arraySlice(all_k, {links_at}, arraySum(ln_n))", "all_k", links_at, "ln_n")
    links_j = col(f"arraySlice(all_j, {links_at}, arraySum(ln_n))", "all_j", links_at, "ln_n")
    link_starts = col("arrayMap((c, n) -> c - n + 1, arrayCumSum(ln_n), ln_n)", "ln_n")
    attributes = _object(f"arraySlice({links_k}, st, n)", f"arraySlice({links_j}, st, n)")
    item = (
        'concat(\'{"trace_id":"\', ids.1, \'","span_id":"\', ids.2, \'","trace_state":\', '
        f"toJSONString(ids.3), ',\"attributes\":', {attributes}, '}}')"
    )
    col(
        f"concat('[', arrayStringConcat(arrayMap((ids, st, n) -> {item}, ln_ids, {link_starts}, ln_n), ','), ']')",
        links_k, links_j, link_starts, "ln_ids", "ln_n", name="links",
    )  # fmt: skip


# --- the whole view --------------------------------------------------------------------------

_STAGE0 = (
    "project_id", "scope_name", "scope_version", "sp_trace_id", "sp_span_id", "sp_parent_span_id",
    "sp_trace_state", "sp_name", "sp_kind", "sp_start", "sp_end", "sp_status_code", "sp_status_message",
    *(f"all_{n}" for n in _ALL_ARRAYS), "g_r", "g_s", "g_a", "ev_n", "ev_names", "ev_times", "ln_n", "ln_ids",
)  # fmt: skip


def _indent(items: Sequence[str], spaces: int) -> str:
    pad = " " * spaces
    return ",\n".join(pad + item for item in items)


def render_chain(database: str) -> list[str]:
    """The SELECTs from `otlp_ingest` to `spans`, each over the previous one's table (`${prev}`).

    One materialized view per step instead of one view of nested SELECTs: ClickHouse analyses a
    view's query at every insert, and the cost of each nested SELECT grows with everything below
    it; a chain of views analyses each step alone.
    """
    plan = Plan(_STAGE0)
    resource = AttributeArrays("r", plan)
    resource.add_columns("1", "g_r", "g_r")
    service = resource.ix(cv.SERVICE_NAME)
    plan.col(
        f"if({resource.at('t', service)} = {T_STR} AND {resource.at('s', service)} != '', "
        f"{resource.at('s', service)}, {lit(cv.DEFAULT_SERVICE_NAME)})",
        service, *resource.names(), name="service_name",
    )  # fmt: skip
    plan.col(resource.object_json(), *resource.names(), name="resource_attributes")
    environment = resource.first_text(cv.ENVIRONMENT_KEYS)
    plan.col(environment, environment, name="resource_environment")
    span = AttributeArrays("a", plan)
    span.add_columns("g_r + g_s + 1", "g_a", "g_r", "g_s", "g_a")
    span_columns(plan, span)
    keys: dict[str, str] = {}
    for a in (resource, span):
        keys[f"{a.p}_keys"] = _lits(a.keys)
        keys[f"{a.p}_slots"] = f"range(toUInt16(1), toUInt16({len(a.keys) + 1}))"
        keys[f"{a.p}_range"] = f"range(toUInt16(1), toUInt16({len(a.keys) + 1}))"
    steps = plan.hops("SELECT * FROM ${prev}", SPAN_TABLE_COLUMNS, "storable")
    return [*render_first_steps(database), *(Template(step).safe_substitute(keys) for step in steps)]


# The spans columns the view fills, in the table's order (model/span.py; ingested_at is defaulted).
SPAN_TABLE_COLUMNS: tuple[str, ...] = tuple(
    {"started_at_ns": "started_at", "ended_at_ns": "ended_at"}.get(c, c) for c in SPAN_COLUMNS
)


def version(database: str) -> str:
    """A hash of the rendered chain: a changed mapping is a new chain of views."""
    return hashlib.sha256("\n;\n".join(render_chain(database)).encode()).hexdigest()[:16]


def view_name(database: str) -> str:
    """`otlp_spans_mv_<version>`: the chain's head, the view on `otlp_ingest`."""
    return VIEW_PREFIX + version(database)


def chain_statements(database: str) -> list[str]:
    """CREATE statements of this release's chain, in an order safe while writers insert: the step
    tables first, then the views from the last (into spans) to the head (on otlp_ingest), so no
    insert enters a chain that does not reach spans."""
    tag = version(database)
    selects = render_chain(database)
    tables = [RAW_TABLE, *(f"otlp_{tag}_{n}" for n in range(1, len(selects))), "spans"]
    steps = [Template(sql).safe_substitute(prev=f"{database}.{tables[n]}") for n, sql in enumerate(selects)]
    statements = [
        f"CREATE TABLE IF NOT EXISTS {database}.{tables[n + 1]} ENGINE = Null AS\n{steps[n]}"
        for n in range(len(steps) - 1)
    ]
    views = [VIEW_PREFIX + tag if n == 0 else f"otlp_{tag}_mv_{n}" for n in range(len(steps))]
    for n in reversed(range(len(steps))):
        statements.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{views[n]} TO {database}.{tables[n + 1]}\n"
            f"AS {steps[n]}"
        )
    return statements


def render_raw_table(database: str) -> str:
    return Template(_SQL.joinpath("otlp_ingest.sql").read_text("utf-8")).substitute(
        database=database, key_values=key_values_type()
    )


def install(client: Client, database: str) -> str:
    """Create the raw table and this release's chain of views, then drop the chains of other
    mappings; returns the head view's name.

    Safe while writers insert: the new chain is complete before any old one goes (for a moment both
    map an insert; the spans table's ReplacingMergeTree folds the copies). Of chains created
    concurrently by different releases, only those older than ours (creation time, then name)
    are dropped, so exactly the newest remains.
    """
    client.command(render_raw_table(database))
    for statement in chain_statements(database):
        client.command(statement)
    name = view_name(database)
    rows = client.query(
        "SELECT name, metadata_modification_time FROM system.tables WHERE database = {db:String} "
        "AND startsWith(name, {prefix:String})",
        parameters={"db": database, "prefix": VIEW_PREFIX},
    ).result_rows
    created = {str(r[0]): (r[1], str(r[0])) for r in rows}  # (time, name): ties broken by name
    mine = created[name]
    for other, when in created.items():
        if when < mine:
            _drop_chain(client, database, other.removeprefix(VIEW_PREFIX))
    logger.info("engine mapping ready database=%s view=%s", database, name)
    return name


def _drop_chain(client: Client, database: str, tag: str) -> None:
    client.command(f"DROP VIEW IF EXISTS {database}.{VIEW_PREFIX}{tag}")  # the head first: nothing enters
    rows = client.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String} AND startsWith(name, {p:String}) "
        "ORDER BY engine = 'MaterializedView' DESC, name",
        parameters={"db": database, "p": f"otlp_{tag}_"},
    ).result_rows
    for table, _ in rows:
        client.command(f"DROP TABLE IF EXISTS {database}.{table}")
    logger.info("engine mapping dropped database=%s version=%s", database, tag)


def convention_keys() -> set[str]:
    """Every string the conventions module holds (keys, values; the render must use each)."""
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
        elif isinstance(value, frozenset | set):
            for v in sorted(value):
                walk(v)

    for name, value in vars(cv).items():
        if name.isupper() and not name.startswith("PLAIN_"):
            walk(value)
    return found
