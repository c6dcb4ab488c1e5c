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
    "agent_step": "CHAIN",  # Vercel AI SDK 7: one step of an agent's loop (not a GenAI value)
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
RESPONSE_MODEL_KEYS: Final = (
    "gen_ai.response.model",
    "llm.response.model_name",
    "ai.response.model",  # Vercel AI SDK
)
REQUEST_MODEL_KEYS: Final = (
    "gen_ai.request.model",
    "llm.request.model_name",
    "ai.model.id",  # Vercel AI SDK
)
# Neither request nor response: the model a span names when it names only one.
GENERIC_MODEL_KEYS: Final = ("llm.model_name", "embedding.model_name", "reranker.model_name")
# OpenInference JSON strings whose "model" member names the requested model.
INVOCATION_PARAMETER_KEYS: Final = ("llm.invocation_parameters", "embedding.invocation_parameters")
PROVIDER_KEYS: Final = (
    "gen_ai.provider.name",
    "gen_ai.system",
    "llm.provider",
    "llm.system",
    "ai.model.provider",  # Vercel AI SDK; its values go through PROVIDER_ALIASES
)

# --- tokens (cache and reasoning tokens are breakdowns, kept apart, never summed in) -----------
INPUT_TOKEN_KEYS: Final = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",  # deprecated GenAI name, still sent by OpenLLMetry
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",  # early OpenLLMetry
    # Vercel AI SDK (v5 names, then v4's; `ai.usage.tokens` on embeddings): model-call spans only,
    # see MODEL_CALL_ONLY_KEYS.
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
    "ai.usage.tokens",
)
OUTPUT_TOKEN_KEYS: Final = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
    "ai.usage.outputTokens",  # Vercel AI SDK v5, then v4
    "ai.usage.completionTokens",
)
TOTAL_TOKEN_KEYS: Final = (
    "llm.token_count.total",
    "llm.usage.total_tokens",
    "gen_ai.usage.total_tokens",
    "ai.usage.totalTokens",  # Vercel AI SDK
)
CACHE_READ_TOKEN_KEYS: Final = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",  # deprecated GenAI / OpenLLMetry Anthropic
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.cachedInputTokens",  # Vercel AI SDK 5-6, then 7
    "ai.usage.inputTokenDetails.cacheReadTokens",
)
CACHE_WRITE_TOKEN_KEYS: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
    "ai.usage.inputTokenDetails.cacheWriteTokens",  # Vercel AI SDK 7
)
REASONING_TOKEN_KEYS: Final = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",  # OpenLLMetry
    "llm.token_count.completion_details.reasoning",
    "ai.usage.reasoningTokens",  # Vercel AI SDK 5-6, then 7
    "ai.usage.outputTokenDetails.reasoningTokens",
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
    # Vercel AI SDK: a model call's messages, a generateText/streamText call's prompt, a tool's
    # arguments, the values embedded.
    "ai.prompt.messages",
    "ai.prompt",
    "ai.toolCall.args",
    "ai.values",
    "ai.value",
    "gen_ai.tool.call.arguments",  # GenAI execute_tool spans (opt-in content)
    # -- fwpy (issue 12, Python agent frameworks) --
    "request_data",  # logfire's OpenAI instrumentation, version=1: the request as sent
    # -- end fwpy --
)
OUTPUT_VALUE_KEYS: Final = (
    "output.value",
    "traceloop.entity.output",
    "gen_ai.completion",
    # Vercel AI SDK: the text, else the tool calls, else the object generated; a tool's result.
    "ai.response.text",
    "ai.response.toolCalls",
    "ai.response.object",
    "ai.toolCall.result",
    "gen_ai.tool.call.result",  # GenAI execute_tool spans (opt-in content)
    # -- fwpy (issue 12, Python agent frameworks) --
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
    "ai.telemetry.metadata.sessionId",  # Vercel AI SDK: experimental_telemetry.metadata (4-6),
    "ai.settings.context.sessionId",  # runtimeContext (7)
)
USER_ID_KEYS: Final = (
    "prela.user_id",
    "user.id",  # OpenInference
    "enduser.id",  # OTel general attributes
    "traceloop.association.properties.user_id",
    "langfuse.user.id",
    "ai.telemetry.metadata.userId",  # Vercel AI SDK: experimental_telemetry.metadata (4-6),
    "ai.settings.context.userId",  # runtimeContext (7)
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

# === Vercel AI SDK, google-genai, Bedrock via OpenLLMetry (the `frameworks` branch) =============
# The Vercel AI SDK names each span's operation in `ai.operationId` (also the span name): the
# generateText / streamText call runs the tool loop (an agent), `…doGenerate` / `…doStream` is one
# model call. Read after LLM_REQUEST_TYPE, before GEN_AI_MODEL_MARKERS; matched lower-cased.
VERCEL_AI_OPERATION_ID: Final = "ai.operationId"
VERCEL_AI_OPERATIONS: Final[dict[str, str]] = {
    "ai.generatetext": "AGENT",
    "ai.streamtext": "AGENT",
    "ai.generatetext.dogenerate": "LLM",
    "ai.streamtext.dostream": "LLM",
    "ai.generateobject": "CHAIN",
    "ai.streamobject": "CHAIN",
    "ai.generateobject.dogenerate": "LLM",
    "ai.streamobject.dostream": "LLM",
    "ai.toolcall": "TOOL",
    "ai.embed": "CHAIN",
    "ai.embedmany": "CHAIN",
    "ai.embed.doembed": "EMBEDDING",
    "ai.embedmany.doembed": "EMBEDDING",
}
# The Vercel AI SDK repeats on generateText / streamText / embed the usage of the model calls under
# them (summed over steps): these keys are read only on spans typed MODEL_CALL_SPAN_TYPES, so a
# trace's totals count each call once.
MODEL_CALL_SPAN_TYPES: Final = ("LLM", "EMBEDDING")
MODEL_CALL_ONLY_KEYS: Final = frozenset(
    (
        "ai.usage.inputTokens",
        "ai.usage.promptTokens",
        "ai.usage.tokens",
        "ai.usage.outputTokens",
        "ai.usage.completionTokens",
        "ai.usage.totalTokens",
        "ai.usage.cachedInputTokens",
        "ai.usage.reasoningTokens",
        "ai.usage.inputTokenDetails.cacheReadTokens",
        "ai.usage.inputTokenDetails.cacheWriteTokens",
        "ai.usage.outputTokenDetails.reasoningTokens",
        "ai.response.providerMetadata",
    )
)
# Provider values that name an API of a provider rather than the provider (the Vercel AI SDK's
# `ai.model.provider` and `gen_ai.system`: `<provider>.<api>`), matched lower-cased, stored as the
# GenAI conventions' well-known `gen_ai.provider.name` value; any other value is kept as sent.
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "openai.chat": "openai",
    "openai.responses": "openai",
    "openai.completion": "openai",
    "openai.embedding": "openai",
    "openai.image": "openai",
    "openai.transcription": "openai",
    "openai.speech": "openai",
    "azure.chat": "azure.ai.openai",
    "azure.responses": "azure.ai.openai",
    "azure.completion": "azure.ai.openai",
    "azure.embedding": "azure.ai.openai",
    "anthropic.messages": "anthropic",
    "google.generative-ai": "gcp.gemini",
    "google.vertex.chat": "gcp.vertex_ai",
    "google.vertex.embedding": "gcp.vertex_ai",
    "amazon-bedrock": "aws.bedrock",
    "mistral.chat": "mistral_ai",
    "mistral.embedding": "mistral_ai",
    "xai.chat": "x_ai",
    "xai.responses": "x_ai",
    "groq.chat": "groq",
    "deepseek.chat": "deepseek",
    "cohere.chat": "cohere",
    "cohere.textembedding": "cohere",
}

# Instrumentation scopes whose input token count leaves out the cache-read and cache-write tokens
# (the provider's raw count: Bedrock's `inputTokens`, Anthropic's `input_tokens`), where the GenAI
# conventions and `pricing.cost_usd` count them in: the cache tokens are added to input and total.
INPUT_TOKENS_EXCLUDE_CACHE_SCOPES: Final = frozenset(("opentelemetry.instrumentation.bedrock",))

# Costs a client reports inside a JSON attribute: (attribute, path of members to the USD amount).
# Read after COST_TOTAL_KEYS / COST_PART_KEYS, before the price table. The Vercel AI SDK's provider
# metadata (model calls only: MODEL_CALL_ONLY_KEYS): OpenRouter's usage accounting, the AI Gateway.
COST_JSON_PATHS: Final = (
    ("ai.response.providerMetadata", ("openrouter", "usage", "cost")),
    ("ai.response.providerMetadata", ("gateway", "cost")),
)
