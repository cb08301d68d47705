// Validates ASL documents with amazon-states-language-service, AWS's own ASL language
// service (the one the AWS Toolkit uses): its JSON schema and its ASL checks.
//
// usage: node validate-asl.mjs FILE...
// stdout: {"<file>": [{"line", "character", "severity", "message"}, ...]} (lines from 1)

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { getLanguageService, TextDocument } = require("amazon-states-language-service");

const SEVERITY = { 1: "error", 2: "warning", 3: "information", 4: "hint" };
const service = getLanguageService({});

const report = {};
for (const file of process.argv.slice(2)) {
  const document = TextDocument.create(`file://${file}`, "json", 1, readFileSync(file, "utf8"));
  const diagnostics = await service.doValidation(document, service.parseJSONDocument(document));
  report[file] = diagnostics.map((diagnostic) => ({
    line: diagnostic.range.start.line + 1,
    character: diagnostic.range.start.character + 1,
    severity: SEVERITY[diagnostic.severity] ?? String(diagnostic.severity),
    message: diagnostic.message,
  }));
}
process.stdout.write(JSON.stringify(report));
