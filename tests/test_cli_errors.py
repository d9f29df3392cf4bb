"""The command line's error boundary and help (issue 11). Errors must be one line on stderr with a
non-zero status and no traceback. The boundary is ``kmatrix.cli.main.main`` (what the console
script calls), so most cases run it in-process and read the captured stderr; the cases about
the process itself (broken pipe, exit status, --version) run ``python -m kmatrix.cli.main``."""

import os
import subprocess
import sys

import pytest

import kmatrix
from kmatrix.cli.main import build_parser, plain_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "kmatrix.cli.main", *args], check=False, capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=ROOT)


def _one_error_line(r, status, *words):
    assert r.returncode == status, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args,status,words", [
    (["demo", "--n", "0"], 2, ["--n", ">= 8", "got 0"]),
    (["demo", "--batch", "-3"], 2, ["--batch", "got -3"]),
    (["bench", "butterfly", "--sizes", "1000:10"], 2, ["power of two", "1000"]),
    (["bench", "butterfly", "--sizes", "1024x8"], 2, ["n:batch", "1024x8"]),
    (["bench", "families", "--only", "Nope", "Diagonal", "--sizes", "64"], 2, ["unknown zoo entries Nope", "Diagonal"]),
    (["bench", "families", "--sizes", "0"], 2, ["--sizes", "positive"]),
    (["bench", "vandermonde_accuracy", "--sizes", "0"], 2, ["positive"]),
    (["plot", "sparsity", "--n", "16", "--out", "/nonexistent-dir/x.png"], 1, ["/nonexistent-dir/x.png", "No such file"]),
    (["circuits", "show", "fft", "--n", "4", "--out", "/nonexistent-dir/c.png"], 1, ["/nonexistent-dir/c.png"]),
    (["circuits", "show", "fft", "--n", "0"], 2, ["--n", "got 0"]),
    (["circuits", "frobnicate"], 2, ["invalid choice"]),
    (["--no-such-flag"], 2, ["unrecognized arguments"]),
])
def test_errors_are_one_line(args, status, words, capsys):
    from kmatrix.cli.main import main

    code = main(args)
    err = capsys.readouterr().err
    _one_error_line(subprocess.CompletedProcess(args, code, "", err), status, *words)


def test_error_in_a_real_process():
    _one_error_line(_cli("bench", "butterfly", "--sizes", "1000:10"), 2, "power of two")


def test_unwritable_out_in_a_read_only_directory(tmp_path, capsys):
    from kmatrix.cli.main import main

    if os.geteuid() == 0:
        out = "/proc/kmatrix-test.png"  # root may write anywhere else; /proc refuses new files
    else:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        out = str(d / "x.png")
    code = main(["plot", "sparsity", "--n", "4", "--out", out])
    _one_error_line(subprocess.CompletedProcess([], code, "", capsys.readouterr().err), 1, out)


def test_internal_errors_are_one_line_unless_debugging(monkeypatch, capsys):
    from kmatrix.cli import main as cli_main

    def boom(args):
        raise RuntimeError("something\nbroke")

    parser = build_parser()

    def fake_build():
        parser.set_defaults(func=boom)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", fake_build)
    assert cli_main.main([]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "kmatrix: error: RuntimeError: something broke"
    monkeypatch.setenv("KMATRIX_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something"):
        cli_main.main([])


def test_output_into_head_ends_quietly():
    # the gate list of fft(256) is ~2000 lines; the reader stops after one
    p = subprocess.Popen([sys.executable, "-m", "kmatrix.cli.main", "circuits", "show", "fft", "--n", "256",
                          "--no-draw"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=300)
    assert first.startswith(b"Circuit(")
    assert err == "" and p.returncode == 0, (p.returncode, err)


def test_version():
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"kmatrix {kmatrix.__version__}"


def _subcommand_parsers(parser, prefix=("kmatrix",)):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subcommand_parsers(sub, (*prefix, name))


def _help(args, capsys) -> str:
    from kmatrix.cli.main import main

    with pytest.raises(SystemExit) as e:
        main([*args, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_every_subcommand_help_is_plain_and_ends_with_an_example(capsys):
    cmds = list(_subcommand_parsers(build_parser()))
    assert {c[1] for c, _ in cmds} >= {"demo", "bench", "circuits", "plot"}
    for cmd, _ in cmds:
        text = _help(cmd[1:], capsys)
        assert "``" not in text and ":func:" not in text, (cmd, text)
        last = text.strip().splitlines()[-1]
        assert last.startswith("example: kmatrix " + " ".join(cmd[1:2])), (cmd, last)


def _benchmarks() -> list[str]:
    from kmatrix.cli.commands.bench import _available

    return _available()


@pytest.mark.parametrize("name", _benchmarks())
def test_benchmark_help_is_plain_text_and_ends_with_an_example(name, capsys):
    text = _help(["bench", name], capsys)
    assert "usage: kmatrix bench " + name in text and "``" not in text and ":func:" not in text
    assert text.strip().splitlines()[-1].startswith("example: kmatrix bench " + name), text


def test_plain_text():
    assert plain_text("``kmatrix bench x``: see :func:`kmatrix.save` and :class:`~torch.Tensor`") == \
        "kmatrix bench x: see kmatrix.save and torch.Tensor"
