"""The README's quick start, `BLIPBOT_TELEGRAM__TOKEN=... scripts/run`, on a fresh clone (issue 16).

The clone is this working tree's files (`git ls-files`, uncommitted work included) in a temporary
folder. Its `.venv` is seeded so the test takes seconds, not minutes: an empty venv of the same
Python whose one `.pth` line adds a folder of links to this venv's installed packages, blipbot
itself left out. The first `scripts/run` then finds no stamp and runs its real install (pip finds
torch and every dependency satisfied, builds the clone's own editable blipbot and writes the
stamp); a truly empty `.venv` takes about 45 s here and needs PyPI for every package, which a
test should not. The restart runs with the package index unreachable and a `pip` that
records any call first on PYTHONPATH. The OCR and speech tools are this machine's (`scripts/setup
test` installs them); apt itself is replaced by a fake that records its calls.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bot.core import texts
from bot.core.speech import Speaker
from inference.ocr import installed_languages
from tests.fakes import photos
from tests.fakes.audio import assert_decodes
from tests.fakes.shell_path import path_with, path_without, write_program
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import PRIVATE, quoted, reply_to

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 240.0  # the first start installs blipbot, then loads torch and the tiny model
STOP_TIMEOUT_S = 30.0
SIGN = ("NO PARKING", "Tow away zone")
SETUP_FAILED = "blipbot: installing the Python packages failed"
TOOLS = ("tesseract", "espeak-ng", "ffmpeg")
#: A package index at a port where nothing listens, and none of this machine's pip configuration
#: (its local wheel folders): pip can install nothing.
OFFLINE = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",
    "PIP_RETRIES": "0",
    "PIP_TIMEOUT": "2",
    "HF_HUB_OFFLINE": "1",
}


def clean_env(**more: str) -> dict[str, str]:
    """This environment without blipbot settings, this venv or local wheel folders, plus `more`."""
    dropped = ("BLIPBOT_", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped) and k != "PYTHON"}
    env.update(PYTHONUNBUFFERED="1", **more)
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this working tree with a seeded, not yet installed, `.venv` (see the docstring)."""
    base = tmp_path_factory.mktemp("quickstart")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: no file list to clone")
    repo = base / "blipbot"
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)

    packages = base / "packages"
    packages.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for entry in site_packages.iterdir():
        if not entry.name.startswith(("blipbot", "__editable__", "__pycache__")) and entry.suffix != ".pth":
            (packages / entry.name).symlink_to(entry)
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", repo / ".venv"], check=True)
    [seeded] = (repo / ".venv" / "lib").glob("python3*/site-packages")
    (seeded / "seed-packages.pth").write_text(f"{packages}\n")
    return repo


def pip_spy(folder: Path) -> tuple[dict[str, str], Path]:
    """Environment under which `python -m pip` finds a pip that records that it ran (in the path
    returned) and fails, before the real one."""
    ran = folder / "pip-ran"
    (folder / "spy" / "pip").mkdir(parents=True)
    (folder / "spy" / "pip" / "__init__.py").write_text("")
    (folder / "spy" / "pip" / "__main__.py").write_text(f"open({str(ran)!r}, 'a').write('ran')\nexit(3)")
    return {"PYTHONPATH": str(folder / "spy")}, ran


def apt_spy(folder: Path) -> Path:
    """A fake apt-get first on PATH that records its calls in `folder/apt-calls` and fails."""
    write_program(folder / "apt-get", f'echo "$*" >>{folder / "apt-calls"}\nexit 100')
    return folder / "apt-calls"


def start_run(repo: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["scripts/run"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


async def wait_started(tg: FakeTelegram, run: subprocess.Popen[bytes], log: Path) -> None:
    """Until the bot has registered its commands; fails at once, with the log, if it exits first."""
    started = asyncio.create_task(tg.wait_for("setMyCommands", timeout=START_TIMEOUT_S))
    while not started.done():
        if run.poll() is not None:
            started.cancel()
            pytest.fail(f"scripts/run exited with {run.returncode}:\n{log.read_text()}")
        await asyncio.sleep(0.2)
    try:
        started.result()
    except TimeoutError:
        pytest.fail(f"no bot after {START_TIMEOUT_S:.0f} s:\n{log.read_text()}")


async def stop(run: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd or Ctrl-C would, and the exit status (waited for off the fake's loop)."""
    run.send_signal(signal.SIGTERM)
    try:
        return await asyncio.to_thread(run.wait, STOP_TIMEOUT_S)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


async def read_sign_aloud(tg: FakeTelegram) -> None:
    """A sign photo is described and /read reads its words, each answer also sent as a voice note."""
    photo = tg.send_photo(PRIVATE, photos.sign(*SIGN))
    description = await reply_to(tg, PRIVATE, timeout=60)
    assert quoted(description) == photo["message_id"]
    assert (await tg.wait_for("sendVoice", timeout=60))["caption"] == description["text"]
    read = tg.send_command(PRIVATE, "/read")
    answer = await reply_to(tg, PRIVATE, timeout=60)
    assert quoted(answer) == read["message_id"]
    assert answer["text"].startswith("The text reads:") and all(line in answer["text"] for line in SIGN)
    spoken = await tg.wait_for("sendVoice", timeout=60)
    assert spoken["caption"] == answer["text"]
    assert_decodes(spoken["voice"].data)


@pytest.mark.skipif(
    not (installed_languages() and Speaker.available()), reason="tesseract-ocr, espeak-ng or ffmpeg missing"
)
async def test_the_readme_command_gives_a_bot_that_reads_and_speaks_and_restarts_offline(
    clone: Path, tiny_blip2_dir: Path, tmp_path: Path
) -> None:
    calls = apt_spy(tmp_path)
    spy, pip_ran = pip_spy(tmp_path)
    for offline in (False, True):
        log = tmp_path / ("offline-restart.log" if offline else "first-run.log")
        async with FakeTelegram() as tg:
            env = clean_env(
                BLIPBOT_TELEGRAM__TOKEN=tg.token,
                BLIPBOT_TELEGRAM__BASE_URL=tg.base_url,
                BLIPBOT_TELEGRAM__BASE_FILE_URL=tg.base_file_url,
                BLIPBOT_INFERENCE__MODEL=str(tiny_blip2_dir),
                BLIPBOT_INFERENCE__DEVICE="cpu",
                PATH=path_with(tmp_path),
                **({**OFFLINE, **spy} if offline else {}),
            )
            run = start_run(clone, log, env)
            try:
                await wait_started(tg, run, log)
                tg.send_command(PRIVATE, "/voice on")
                assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("voice", True)
                await read_sign_aloud(tg)
            finally:
                status = await stop(run)
        assert status == 0, log.read_text()
        if offline:
            assert not pip_ran.exists(), "the offline restart ran pip"
        else:
            assert (clone / ".venv" / ".blipbot-setup").is_file(), "no stamp after the first install"
            where = subprocess.run(
                [clone / ".venv/bin/python", "-c", "import bot; print(bot.__file__)"],
                cwd="/", capture_output=True, text=True, check=True,
            )  # fmt: skip
            assert Path(where.stdout.strip()).is_relative_to(clone), "the bot ran another checkout's code"
    assert not calls.exists(), "apt was called with every tool installed"


def test_a_matching_stamp_skips_pip_and_a_changed_pyproject_runs_it_again(
    clone: Path, tmp_path: Path
) -> None:
    setup = clone / "scripts" / "setup"
    first = subprocess.run([setup], env=clean_env(), capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr  # the install, unless the test above made it already

    spy, ran = pip_spy(tmp_path)
    no_pip = clean_env(**spy, **OFFLINE)

    again = subprocess.run([setup], env=no_pip, capture_output=True, text=True, timeout=30, check=False)
    assert (again.returncode, again.stdout, again.stderr, ran.exists()) == (0, "", "", False)

    pyproject = clone / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original + "\n# a changed dependency list\n")
    try:
        changed = subprocess.run([setup], env=no_pip, capture_output=True, text=True, timeout=60, check=False)
        assert changed.returncode == 1 and ran.exists(), "a changed pyproject.toml did not run pip"
        offline = subprocess.run(
            [setup], env=clean_env(**OFFLINE), capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        pyproject.write_text(original)
    assert offline.returncode == 1
    assert offline.stderr.strip().splitlines()[-1].startswith(SETUP_FAILED), offline.stderr
    assert "Traceback" not in offline.stderr

    ran.unlink()
    restored = subprocess.run([setup], env=no_pip, capture_output=True, text=True, timeout=30, check=False)
    assert (restored.returncode, ran.exists()) == (0, False), "a failed install replaced the stamp"


def bare_repo(tmp_path: Path) -> Path:
    """What `scripts/setup` reads before it has a venv: the scripts and pyproject.toml."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    return repo


def python_shim(folder: Path, prelude: str) -> Path:
    """A `python3` that runs this Python after `prelude`, for `-c CODE` as scripts/setup calls it."""
    folder.mkdir(parents=True)
    (folder / "prelude.py").write_text(
        f"import sys\n{prelude}\nif sys.argv[1:2] == ['-c']:\n"
        "    sys.argv = sys.argv[2:]\n    exec(sys.argv[0], {'__name__': '__main__'})\n"
        "else:\n    sys.exit('the shim only runs -c')\n"
    )
    return write_program(folder / "python3", f'exec {sys._base_executable} {folder / "prelude.py"} "$@"')


@pytest.mark.parametrize("how", ["PATH", "PYTHON"])
def test_an_old_python_is_one_line_naming_the_version_needed(tmp_path: Path, how: str) -> None:
    shim = python_shim(tmp_path / "bin", "sys.version_info = (3, 9, 2, 'final', 0)")
    where = {"PATH": path_with(shim.parent)} if how == "PATH" else {"PYTHON": str(shim)}
    repo = bare_repo(tmp_path)
    result = subprocess.run([repo / "scripts/setup"], env=clean_env(**where), capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("blipbot needs Python 3.11 or newer;") and "is 3.9" in line
    assert not (repo / ".venv").exists()


def test_a_python_without_venv_support_is_one_line_naming_the_package(tmp_path: Path) -> None:
    """As on Debian and Ubuntu without python3-venv, which holds ensurepip."""
    shim = python_shim(tmp_path / "bin", "sys.modules['ensurepip'] = None  # import ensurepip fails")
    repo = bare_repo(tmp_path)
    result = subprocess.run(
        [repo / "scripts/setup"], env=clean_env(PATH=path_with(shim.parent)), capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    if shutil.which("apt-get"):
        sudo = "" if os.getuid() == 0 else "sudo "
        assert (
            line == f"blipbot: python3-venv is missing; install it with: {sudo}apt-get install python3-venv"
        )
    else:
        assert line.startswith("blipbot: ") and "venv" in line
    assert not (repo / ".venv").exists()


SYSTEM_PACKAGES = ROOT / "scripts" / "system-packages"
APT_PACKAGES = "tesseract-ocr tesseract-ocr-eng espeak-ng ffmpeg"
INSTALLING = f"Installing OCR and speech tools with apt: {APT_PACKAGES}\n"
#: A fake Tesseract with its English data, for the tools a fake apt-get installs.
TESSERACT = "echo eng"
BOTH_OFF = "/read (reading text) and /voice (voice notes) are off"
NO_APT_FIX = (
    "install tesseract (with its English data), espeak-ng and ffmpeg with this system's package manager"
)


def machine(tmp_path: Path, uid: int, **programs: str) -> dict[str, str]:
    """An environment without Tesseract, espeak-ng, ffmpeg, apt-get, brew or sudo, but with
    `programs` (name: shell body), whose `id -u` is `uid`."""
    fakes = tmp_path / "fakes"
    write_program(fakes / "id", f"echo {uid}")
    for name, body in programs.items():
        write_program(fakes / name.replace("_", "-"), body)
    real = path_without(tmp_path / "real", (*TOOLS, "apt-get", "brew", "sudo", "id"))
    return clean_env(PATH=f"{fakes}{os.pathsep}{real}")


def fake_apt(tmp_path: Path, works: bool) -> str:
    """An apt-get that records its calls in `tmp_path/apt-calls` and installs the tools, or fails."""
    record = f'echo "$*" >>{tmp_path}/apt-calls'
    if not works:
        return f"{record}\nexit 100"
    for tool in TOOLS:
        write_program(tmp_path / "debs" / tool, TESSERACT if tool == "tesseract" else "true")
    return f'{record}\n[ "$1" = install ] && cp {tmp_path}/debs/* {tmp_path}/fakes/\nexit 0'


def system_packages(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYSTEM_PACKAGES], env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "sudo"])
def test_missing_tools_are_installed_with_apt_and_a_restart_calls_no_apt(tmp_path: Path, uid: int) -> None:
    sudo = {"sudo": '[ "$1" = -n ] && shift\nexec "$@"'} if uid else {}
    env = machine(tmp_path, uid, apt_get=fake_apt(tmp_path, works=True), **sudo)
    first = system_packages(env)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout == INSTALLING
    calls = (tmp_path / "apt-calls").read_text().splitlines()
    assert calls == ["update -qq", f"install -y -qq --no-install-recommends {APT_PACKAGES}"]

    again = system_packages(env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert (tmp_path / "apt-calls").read_text().splitlines() == calls


@pytest.mark.parametrize(
    ("uid", "apt", "said", "fix", "apt_calls"),
    [
        (0, False, "", NO_APT_FIX, []),
        (1000, True, "", f"sudo apt-get install {APT_PACKAGES}", []),
        (0, True, INSTALLING, f"apt-get install {APT_PACKAGES}", ["update -qq"]),
    ],
    ids=["no-apt", "apt-without-root-or-sudo", "apt-failing"],
)  # fmt: skip
def test_where_apt_cannot_install_them_one_line_names_what_is_off_and_the_bot_starts(
    tmp_path: Path, uid: int, apt: bool, said: str, fix: str, apt_calls: list[str]
) -> None:
    programs = {"apt_get": fake_apt(tmp_path, works=False)} if apt else {}
    result = system_packages(machine(tmp_path, uid, **programs))
    assert (result.returncode, result.stdout) == (0, said)
    assert result.stderr.splitlines() == [f"blipbot: {BOTH_OFF}; to turn them on: {fix}"]
    calls = tmp_path / "apt-calls"
    assert (calls.read_text().splitlines() if calls.exists() else []) == apt_calls


def test_one_missing_tool_turns_off_only_its_feature(tmp_path: Path) -> None:
    env = machine(tmp_path, 0, tesseract=TESSERACT, espeak_ng="true", brew="exit 1")
    result = system_packages(env)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "blipbot: /voice (voice notes) is off; to turn it on: brew install ffmpeg\n"


def test_run_without_the_tools_or_apt_says_once_what_is_off_and_starts_the_bot(
    clone: Path, tmp_path: Path
) -> None:
    installed = subprocess.run([clone / "scripts/setup"], env=clean_env(), capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr  # the install, unless a test above made it already
    result = subprocess.run(
        ["scripts/run", "--help"], cwd=clone, env=machine(tmp_path, 0), capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: blipbot run"), result.stderr
    assert result.stderr.splitlines() == [f"blipbot: {BOTH_OFF}; to turn them on: {NO_APT_FIX}"]
