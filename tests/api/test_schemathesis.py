"""schemathesis against the live server's `/openapi.json`: no 5xx, and every response as documented.

The CLI runs as its own process (as a user would run it) while the server serves on this loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.api.conftest import TOKEN

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


async def test_schemathesis_finds_no_server_error_and_no_undocumented_response(api, tmp_path):
    schemathesis = Path(sys.executable).with_name("schemathesis")
    process = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", f"{api.url}/openapi.json",
        "--checks", CHECKS,
        "--header", f"Authorization: Bearer {TOKEN}",
        "--max-examples", "25",
        "--phases", "examples,coverage,fuzzing",
        "--workers", "1",
        "--seed", "1",
        "--request-timeout", "30",
        "--no-color",
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    assert "passed" in report
