"""Soak: the 1M-record build with 1% hostile rows added; it must complete, with memory bounded and
every row accounted for.

    python benchmarks/soak.py                 # 1,000,000 records + 10,000 hostile rows

Takes the synthetic data of benchmarks/validate.py, links it into bench-data/soak/, adds 1% more
penalty rows copied from real synthetic rows and damaged the way department exports are: markup
and formulas in every text cell, control characters, quotes and line breaks inside cells, full-width
and lookalike characters in codes, impossible dates, path-like codes, missing required values, and
rows with too many or too few cells. Then runs `gongshi build --timings` as a whole process and
prints wall time, peak RSS and the counts, and checks read = published + withheld.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import AS_OF, data_arguments, gongshi

MARKUP = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
FORMULAS = ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)")
CODE_COLUMNS = ("行政相对人代码_1(统一社会信用代码)", "处罚机关统一社会信用代码", "数据来源单位统一社会信用代码")
DATE_COLUMNS = ("处罚决定日期", "处罚有效期", "公示截止期")


def damage(row: list[str], header: list[str], rng: random.Random) -> list[str]:
    """One of the ways a department's export goes wrong."""
    row = list(row)
    cjk = [i for i, v in enumerate(row) if re.search(r"[\u4e00-\u9fff]", v)]
    codes = [header.index(c) for c in CODE_COLUMNS if c in header]
    dates = [header.index(c) for c in DATE_COLUMNS if c in header]
    kind = rng.randrange(10)
    if kind == 0:
        for i in cjk:
            row[i] += MARKUP
    elif kind == 1:
        for i in cjk:
            row[i] = rng.choice(FORMULAS) + row[i]
    elif kind == 2:
        for i in cjk:
            row[i] = row[i][:2] + "\x07\x1b\u200b" + row[i][2:]
    elif kind == 3:
        for i in cjk:
            row[i] = '"引号"\n换行，' + row[i]
    elif kind == 4 and codes:
        i = codes[0]
        row[i] = row[i].translate(str.maketrans("0123456789", "０１２３４５６７８９")).replace("０", "O", 1)
    elif kind == 5 and dates:
        row[dates[0]] = rng.choice(["2026-02-30", "20261301", "明天", "0000-00-00", "45000000"])
    elif kind == 6 and codes:
        row[codes[0]] = rng.choice(["../../etc/passwd", "/", "a\x00b", "91450100MA5K0000X/../"])
    elif kind == 7 and cjk:
        row[cjk[0]] = ""
    elif kind == 8:
        row += ["多余", "的单元格"]
    elif kind == 9:
        row = row[: len(row) // 2]
    return row


def add_hostile_rows(source: Path, target: Path, count: int, seed: int = 7) -> None:
    if target.exists():
        shutil.rmtree(target)
    for folder in source.iterdir():  # hard links: the million rows are not copied
        if folder.is_dir():
            (target / folder.name).mkdir(parents=True)
            for file in folder.iterdir():
                os.link(file, target / folder.name / file.name)
    rng = random.Random(seed)
    donors = sorted(p for p in (source / "penalties").glob("*.csv") if p.read_bytes().startswith(b"\xef\xbb\xbf"))
    per_file = 1000
    for n in range(count // per_file):
        donor = donors[n % len(donors)]
        rows = list(csv.reader(io.StringIO(donor.read_text(encoding="utf-8-sig"))))
        header, body = rows[0], rows[1:]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for _ in range(per_file):
            writer.writerow(damage(rng.choice(body), header, rng))
        name = f"hostile-{n:03d}.csv"
        (target / "penalties" / name).write_text(out.getvalue(), encoding="utf-8")
        shutil.copy(donor.with_name(donor.name + ".provenance.yaml"), target / "penalties" / f"{name}.provenance.yaml")


def main() -> None:
    args = data_arguments(__doc__, hostile=10_000)
    soak = args.data.parent / "soak"
    add_hostile_rows(args.data, soak, args.hostile)
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); "
                "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, *gongshi(), "build", "--datasets", str(soak), "--out",
                               str(Path(tmp) / "site"), "--as-of", AS_OF, "--timings"], capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        wall, peak, status = lines[-1].split()
        print("\n".join(lines[:-1]))
        print(done.stderr.strip())
        if status != "0":
            raise SystemExit(f"the build failed (exit {status})")
        summary = lines[0]
        read, valid, withheld = (int(x) for x in re.findall(r"读取 (\d+) 行，通过校验 (\d+) 行，暂不发布 (\d+) 行", summary)[0])
        print(f"soak: {read:,} rows read = {valid:,} published + {withheld:,} withheld: "
              f"{'reconciled' if read == valid + withheld else 'NOT RECONCILED'}; "
              f"{float(wall):.1f} s wall, peak RSS {int(peak) / 1024:,.0f} MiB ({time.perf_counter() - started:.0f} s in all)")
        if read != valid + withheld or read < args.records + args.hostile:
            raise SystemExit("rows were lost")


if __name__ == "__main__":
    main()
