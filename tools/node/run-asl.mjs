// Runs a batch of state machine executions on aws-local-stepfunctions, an independent ASL
// interpreter, with every Task state answered by a stub that replays recorded attempts.
//
// stdin: {"timeScale": N, "executions": [{"name", "definition", "input", "context",
//          "attempts": {"<state>": [{"result": X} | {"error": E, "cause": C} | {"hang": true}]}}]}
// stdout: {"<name>": {"status", "output" | ("error", "cause"), "path": [states entered],
//          "taskInputs": {"<state>": [effective input of each attempt]}, "unused": {...}}}
//
// The executions of a batch run at once in this one process. Timers run `timeScale` times
// fast (the local AWS's clock runs fast the same way), so a hold of 60 s times out in
// 60/timeScale real seconds. A stub that is asked for an attempt that was not recorded
// fails the state with `ReplayExhausted`, which the comparison then shows.

import { readFileSync } from "node:fs";

// The package asks for Node 22; on Node 20 only Promise.withResolvers is missing.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const { StateMachine, ExecutionError } = await import("aws-local-stepfunctions");

const batch = JSON.parse(readFileSync(0, "utf8"));
const scale = batch.timeScale ?? 1;
const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = (callback, ms, ...args) => realSetTimeout(callback, (ms ?? 0) / scale, ...args);

class ReplayedError extends Error {
  constructor(name, cause) {
    super(cause);
    this.name = name;
  }
}

function stubs(execution, taskInputs, used) {
  const handlers = {};
  for (const [state, attempts] of Object.entries(execution.attempts)) {
    handlers[state] = (input) => {
      (taskInputs[state] ??= []).push(input);
      const attempt = attempts[used[state] ?? 0];
      used[state] = (used[state] ?? 0) + 1;
      if (attempt === undefined) {
        throw new ReplayedError("ReplayExhausted", `no recorded attempt ${used[state]} of ${state}`);
      }
      if (attempt.hang) return new Promise(() => {});
      if ("error" in attempt) throw new ReplayedError(attempt.error, attempt.cause);
      return attempt.result;
    };
  }
  return handlers;
}

async function run(execution) {
  const taskInputs = {};
  const used = {};
  const machine = new StateMachine(execution.definition, {
    validationOptions: { checkArn: false, checkPaths: true },
  });
  const started = machine.run(execution.input, {
    overrides: { taskResourceLocalHandlers: stubs(execution, taskInputs, used) },
    context: execution.context,
  });
  const path = [];
  const events = (async () => {
    for await (const event of started.eventLogs) {
      if (event.type === "StateEntered" && event.index === undefined) path.push(event.state.name);
    }
  })();
  const report = { path, taskInputs };
  try {
    report.output = await started.result;
    report.status = "SUCCEEDED";
  } catch (failure) {
    const error = failure instanceof ExecutionError ? failure.cause : failure;
    report.status = "FAILED";
    report.error = error?.name ?? String(error);
    report.cause = error?.message ?? "";
  }
  await events;
  report.unused = Object.fromEntries(
    Object.entries(execution.attempts)
      .map(([state, attempts]) => [state, attempts.length - (used[state] ?? 0)])
      .filter(([, left]) => left > 0),
  );
  return [execution.name, report];
}

const reports = await Promise.all(batch.executions.map(run));
process.stdout.write(JSON.stringify(Object.fromEntries(reports)));
