"""History at scale: migrating a database written before conversation trees, opening a long
session as a tree, and searching every message (FTS5 trigram index vs the substring scan used for
queries with words under three characters). Synthetic English + Chinese messages; medians of 5.

    python benchmarks/history_speed.py --sessions 200 --turns 50
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

V0 = Path(__file__).resolve().parent.parent / "tests" / "core" / "data" / "history_v0_schema.sql"
WORDS = ("weather capital python list garden bicycle chain recipe tomato river mountain 天气 今天 猫娘 "
         "学习 编程 花园 自行车 recipe soup bread engine token answer question").split()


def make_v0(path: Path, sessions: int, turns: int) -> int:
    db = sqlite3.connect(path)
    db.executescript(V0.read_text(encoding="utf-8"))
    rows = 0
    for s in range(sessions):
        db.execute("INSERT INTO sessions (title, persona, model, created, updated) VALUES (NULL, 'assistant', 'm', 0, 0)")
        for t in range(turns * 2):
            text = " ".join(WORDS[(s * 7 + t * 3 + k) % len(WORDS)] for k in range(25)) + f" #{s}-{t}"
            db.execute("INSERT INTO messages (session_id, role, content, partial, created) VALUES (?, ?, ?, 0, 0)",
                       (s + 1, "user" if t % 2 == 0 else "assistant", text))
            rows += 1
    db.commit()
    db.close()
    return rows


def median_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    from tuichat.core.history import History

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        rows = make_v0(path, args.sessions, args.turns)
        start = time.perf_counter()
        history = History(path)
        migrate_s = time.perf_counter() - start
        print(f"{rows:,} messages in {args.sessions} sessions; migration (backup + tree + FTS index): {migrate_s:.2f} s")
        print(f"open one {args.turns * 2}-message session as a tree: {median_ms(lambda: history.conversation(1).branch()):.1f} ms")
        rare = f"#{args.sessions // 2}-{args.turns}"  # in exactly one message
        for query in ("bicycle chain", "自行车", rare, f"天气 {rare}", "天气"):
            hits = len(history.search(query, limit=1000))
            how = "substring scan" if any(len(w) < 3 for w in query.strip('"').split()) else "FTS5 trigram"
            print(f"search {query!r:>16} ({how}): {median_ms(lambda: history.search(query, limit=50)):.1f} ms, {hits} hits (limit 1000)")


if __name__ == "__main__":
    main()
