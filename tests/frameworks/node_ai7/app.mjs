// AI SDK 7 with its OpenTelemetry integration from @ai-sdk/otel (driven by tests/frameworks/test_vercel_ai7.py).
// AI_OTEL=genai uses `OpenTelemetry` (GenAI semantic conventions), AI_OTEL=legacy `LegacyOpenTelemetry`
// (the ai.* spans of AI SDK 4-6). generateText with one tool call, streamText and embed against the fake
// OpenAI server named by FAKE_OPENAI_URL, under one root span, with the session and user in the runtime
// context; spans go by OTLP/HTTP protobuf to PRELA_OTLP_URL. Prints {"trace_id": ...} once flushed.
import { createOpenAI } from "@ai-sdk/openai";
import { LegacyOpenTelemetry, OpenTelemetry } from "@ai-sdk/otel";
import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { embed, generateText, isStepCount, streamText, tool } from "ai";
import { z } from "zod";

const sdk = new NodeSDK({
  serviceName: "vercel-ai7-app",
  traceExporter: new OTLPTraceExporter({ url: `${process.env.PRELA_OTLP_URL}/v1/traces` }),
  instrumentations: [],
});
sdk.start();

const openai = createOpenAI({ baseURL: process.env.FAKE_OPENAI_URL, apiKey: "sk-test" });
const integration =
  process.env.AI_OTEL === "legacy"
    ? new LegacyOpenTelemetry({ runtimeContext: true })
    : new OpenTelemetry({ runtimeContext: true, usage: true });
const telemetry = (functionId) => ({
  functionId,
  integrations: [integration],
  includeRuntimeContext: { sessionId: true, userId: true },
});
const runtimeContext = { sessionId: "session-vercel-7", userId: "user-vercel-7" };

const weather = tool({
  description: "The weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: "sunny" }),
});

let traceId = "";
await trace.getTracer("vercel-ai7-app").startActiveSpan("vercel-ai7-app", async (root) => {
  traceId = root.spanContext().traceId;
  await generateText({
    model: openai.chat("gpt-4o-mini"),
    instructions: "Answer briefly.",
    prompt: "What is the weather in Paris?",
    tools: { weather },
    stopWhen: isStepCount(2),
    runtimeContext,
    telemetry: telemetry("weather-agent"),
  });
  const stream = streamText({
    model: openai.chat("gpt-4o-mini"),
    prompt: "Say hello.",
    runtimeContext,
    telemetry: telemetry("greeter"),
  });
  for await (const _ of stream.textStream) {
    // drain the stream: the span ends when it is consumed
  }
  await embed({
    model: openai.embedding("text-embedding-3-small"),
    value: "sunny day in Paris",
    runtimeContext,
    telemetry: telemetry("embedder"),
  });
  root.end();
});
await sdk.shutdown();
console.log(JSON.stringify({ trace_id: traceId }));
