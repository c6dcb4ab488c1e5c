// A small Vercel AI SDK app whose OpenTelemetry spans go to Prela (driven by tests/frameworks/test_vercel_ai.py).
// generateText with one tool call, streamText, embed, and generateText through OpenRouter (which
// reports the call's cost) against the fake OpenAI server named by FAKE_OPENAI_URL, all under one root span; the spans go by OTLP/HTTP protobuf to PRELA_OTLP_URL.
// Prints {"trace_id": ...} once the exporter has flushed.
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { embed, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const sdk = new NodeSDK({
  serviceName: "vercel-ai-app",
  traceExporter: new OTLPTraceExporter({ url: `${process.env.PRELA_OTLP_URL}/v1/traces` }),
  instrumentations: [],
});
sdk.start();

const openai = createOpenAI({ baseURL: process.env.FAKE_OPENAI_URL, apiKey: "sk-test" });
const openrouter = createOpenRouter({ baseURL: process.env.FAKE_OPENAI_URL, apiKey: "sk-or-test" });
const telemetry = (functionId) => ({
  isEnabled: true,
  functionId,
  metadata: { sessionId: "session-vercel-1", userId: "user-vercel-1" },
});

const weather = tool({
  description: "The weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: "sunny" }),
});

let traceId = "";
await trace.getTracer("vercel-ai-app").startActiveSpan("vercel-ai-app", async (root) => {
  traceId = root.spanContext().traceId;
  await generateText({
    model: openai.chat("gpt-4o-mini"),
    system: "Answer briefly.",
    prompt: "What is the weather in Paris?",
    tools: { weather },
    stopWhen: stepCountIs(2),
    experimental_telemetry: telemetry("weather-agent"),
  });
  const stream = streamText({
    model: openai.chat("gpt-4o-mini"),
    prompt: "Say hello.",
    experimental_telemetry: telemetry("greeter"),
  });
  for await (const _ of stream.textStream) {
    // drain the stream: the span ends when it is consumed
  }
  await embed({
    model: openai.textEmbeddingModel("text-embedding-3-small"),
    value: "sunny day in Paris",
    experimental_telemetry: telemetry("embedder"),
  });
  await generateText({
    model: openrouter.chat("openai/gpt-4o-mini"),
    prompt: "Say hi.",
    experimental_telemetry: telemetry("router"),
  });
  root.end();
});
await sdk.shutdown();
console.log(JSON.stringify({ trace_id: traceId }));
