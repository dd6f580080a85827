#!/usr/bin/env python3
"""Cron oracle for TidemarkPolicy's CronSchedule: random expressions of every syntax form
tidemark accepts, evaluated by croniter at random instants in four zones (many of them near
DST changes), plus expressions tidemark must refuse.

    generate_cron_oracle.py [--seed N] [--cases N] [--dst-cases N] [--errors N]
                            [--nth-cases N] [--nth-dst-cases N] [--nth-errors N] [--runs N] [--output FILE|-]

The committed fixture is `generate_cron_oracle.py --output cron-oracle.json` (the defaults);
CronOracleTests also runs it live with a fresh seed and `--cases 300 --nth-cases 60 --output -`.

After the plain cases and errors come the nth-weekday ones (`d#n` in the day of week, e.g.
`1#1` the first Monday): `--nth-cases` expressions, half of them near a DST change and then
naming the change day's own `d#n` (New York's 0#2 and 0#1, Berlin's last Sunday 0#4/0#5,
Lord Howe's 0#1), then `--nth-errors` invalid `#` fields. One seed drives all of it, in that
order, so adding the nth cases left the plain ones as they were.

Output (JSON): {"croniter": version, "seed": N, "runs": N, "cases": [[expression, zone,
start, [next fire times]]], "errors": [[expression, field or null, croniter's verdict]]}.
Times are whole seconds since the epoch; a case lists fewer than `runs` fire times when
croniter finds no more (CroniterBadDateError).

Forms on which tidemark deliberately differs from croniter are generated only as errors:
a range from a value to itself ("5-5": croniter reads the whole field), a reversed range
("22-2": croniter wraps), a step wider than the field ("*/90": croniter fires once per
cycle), 6 and 7 fields, `*` inside a list, and croniter's extensions L, W, H and ?. With `#`:
a restricted day of month ("0 6 15 * 1#1": croniter ignores the day of month, or never fires
when no day fits both), a range before `#` ("mon-fri#2": croniter expands a range of names,
though it refuses "1-5#2"), and plain days beside `d#n` ("1#1,1" and "1#1,0-6": croniter fires
on the `#` days only; it refuses "1#1,3").
"""

import argparse
import datetime
import importlib.metadata
import json
import random
import sys
from zoneinfo import ZoneInfo

try:
    from croniter import croniter, CroniterBadDateError, CroniterError
except ImportError:
    sys.exit("croniter is not installed: pip install croniter==7.0.0 (scripts/lib.sh tm_ensure_croniter)")

CRONITER_VERSION = "7.0.0"
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]
FIELDS = ["minute", "hour", "day of month", "month", "day of week"]
# Writable range and the cycle of each field (day of week: 7 is Sunday again, the cycle is 0-6).
WRITABLE = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
CYCLE = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
SHORTHANDS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
START = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
END = datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc).timestamp()


def spell(rng, field, value):
    """A value as a number or, in the month and day-of-week fields, sometimes as a name."""
    if field == 3 and rng.random() < 0.3:
        return case(rng, MONTHS[value - 1])
    if field == 4 and value <= 6 and rng.random() < 0.3:
        return case(rng, DAYS[value])
    if rng.random() < 0.03 and value < 10:
        return "0%d" % value
    return str(value)


def case(rng, name):
    return rng.choice([name, name.upper(), name.capitalize()])


def term(rng, field, hours=None):
    """One list item of a field, of a random form."""
    lo, hi = WRITABLE[field]
    span = CYCLE[field][1] - CYCLE[field][0]
    pick = (lambda: rng.choice(hours)) if hours else (lambda: rng.randint(lo, hi))
    form = rng.choice(["value", "value", "range", "step", "rangestep", "startstep"])
    if form == "value":
        return spell(rng, field, pick())
    if form == "step":
        return "*/%d" % rng.randint(1, min(span, 12) if rng.random() < 0.8 else span)
    if form == "startstep":
        start = rng.randint(lo, hi)
        return "%s/%d" % (spell(rng, field, start), rng.randint(1, span))
    a = pick()
    b = rng.randint(a + 1, hi) if a < hi else None
    if b is None:
        return spell(rng, field, a)
    text = "%s-%s" % (spell(rng, field, a), spell(rng, field, b))
    if form == "rangestep":
        text += "/%d" % rng.randint(1, span)
    return text


def field_text(rng, field, hours=None):
    r = rng.random()
    if r < 0.35 and not (hours and field == 1):
        return "*"
    if r < 0.8:
        return term(rng, field, hours)
    return ",".join(term(rng, field, hours) for _ in range(rng.randint(2, 3)))


def expression(rng, near_dst=False):
    if rng.random() < 0.04:
        return rng.choice(SHORTHANDS)
    fields = []
    for f in range(5):
        if near_dst and f == 1:
            # Hours around the changes (01-03 local in these zones), or every hour.
            fields.append("*" if rng.random() < 0.3 else field_text(rng, 1, hours=[0, 1, 2, 3, 4]))
        elif near_dst and f in (2, 3) and rng.random() < 0.75:
            fields.append("*")
        else:
            fields.append(field_text(rng, f))
    if near_dst and rng.random() < 0.3:
        fields[0] = rng.choice(["0", "30", "15", "45", "*/15", "*/30", "0,30", "10-40/10", "*", "*/5"])
    return " ".join(fields)


def transitions(zone):
    """The instants (seconds) at which `zone` changes its UTC offset, 2000-2040."""
    tz = ZoneInfo(zone)
    found = []
    t = int(START)
    step = 3600 * 6

    def off(x):
        return datetime.datetime.fromtimestamp(x, tz=tz).utcoffset()

    while t < END:
        if off(t) != off(t + step):
            lo, hi = t, t + step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == off(lo):
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        t += step
    return found


def evaluate(expr, zone, start, runs):
    tz = ZoneInfo(zone)
    it = croniter(expr, datetime.datetime.fromtimestamp(start, tz=tz))
    out = []
    for _ in range(runs):
        try:
            value = it.get_next(float)
        except CroniterBadDateError:
            break
        if value != int(value):
            raise SystemExit("croniter returned a fraction of a second for %r: %r" % (expr, value))
        out.append(int(value))
    return out


def start_instant(rng, around=None):
    if around is None:
        t = rng.randint(int(START), int(END))
    else:
        spread = rng.choice([120, 3600, 3 * 3600, 26 * 3600])
        t = around + rng.randint(-spread, spread)
    if rng.random() < 0.35:
        t -= t % 60  # exactly on a minute: "strictly after" matters
        if rng.random() < 0.3:
            t -= 60 * rng.randint(0, 59) if rng.random() < 0.5 else 0
    return t


def corrupt(rng):
    """An expression with one bad field, and that field's name."""
    fields = expression(random.Random(rng.random())).split()
    if len(fields) != 5:
        fields = ["0", "0", "*", "*", "*"]
    f = rng.randrange(5)
    lo, hi = WRITABLE[f]
    span = CYCLE[f][1] - CYCLE[f][0]
    kinds = ["high", "step0", "reversed", "equal", "widestep", "empty", "word", "star-list", "extension"]
    if f in (2, 3):
        kinds.append("zero")
    if f in (3, 4):
        kinds.append("name")
    kind = rng.choice(kinds)
    bad = {
        "high": lambda: str(hi + rng.randint(1, 40)),
        "zero": lambda: "0",
        "step0": lambda: rng.choice(["*/0", "%d-%d/0" % (lo, hi), "%d/0" % lo]),
        "reversed": lambda: "%d-%d" % (hi, rng.randint(lo, hi - 1)) if f != 4 else "%d-%d" % (rng.randint(3, 6), rng.randint(0, 2)),
        "equal": lambda: (lambda v: "%d-%d" % (v, v))(rng.randint(lo, hi)),
        "widestep": lambda: "*/%d" % rng.randint(span + 1, span + 100),
        "empty": lambda: rng.choice(["%d,,%d" % (lo, lo + 2), ",%d" % lo, "%d," % lo]),
        "word": lambda: rng.choice(["x", "every", "1a", "-1", "1-", "+5", "1.5"]),
        "star-list": lambda: "*,%d" % (lo + 1),
        "extension": lambda: {0: "H", 1: "H/2", 2: rng.choice(["L", "15W", "?"]), 3: "?", 4: rng.choice(["1#6", "5L", "?"])}[f],
        "name": lambda: rng.choice(["monday", "jnu", "sept", "xyz", "mo"]),
    }[kind]
    fields[f] = bad()
    return " ".join(fields), FIELDS[f]


FIXED_ERRORS = [
    ("", None), ("   ", None), ("@reboot", None), ("@REBOOT", None), ("@every 5m", None), ("@fortnightly", None),
    ("* * * *", None), ("0 0 * * * *", None), ("0 0 0 * * * 2030", None), ("*/5 * * * * * *", None),
    ("0 0 1", None), ("*", None), ("0 60 * * *", "hour"), ("60 * * * *", "minute"),
    ("0 24 * * *", "hour"), ("0 0 32 * *", "day of month"), ("0 0 0 * *", "day of month"),
    ("0 0 * 13 *", "month"), ("0 0 * 0 *", "month"), ("0 0 * * 8", "day of week"),
    ("*/0 * * * *", "minute"), ("0 22-2 * * *", "hour"), ("0 0 * * fri-mon", "day of week"),
    ("0 0 * dec-jan *", "month"), ("0 0 * * sun-sun", "day of week"), ("5-5 * * * *", "minute"),
    ("*/60 * * * *", "minute"), ("0 */24 * * *", "hour"), ("0 0 * * MONDAY", "day of week"),
    ("0 0 * JANUARY *", "month"), ("0 0 L * *", "day of month"), ("0 0 * * 5#6", "day of week"),
    ("H * * * *", "minute"), ("0 0 ? * *", "day of month"), ("0 0 * * 7-3", "day of week"),
]


def nth_item(rng, weekday=None, n=None):
    """One `d#n` item: a weekday (0-7 or a name) and its place in the month (1-5)."""
    if weekday is None:
        weekday = rng.randint(0, 7)
    elif weekday == 0 and rng.random() < 0.3:
        weekday = 7
    text = spell(rng, 4, weekday)
    n = rng.randint(1, 5) if n is None else n
    return "%s#%s" % (text, "0%d" % n if rng.random() < 0.03 else str(n))


def nth_expression(rng, change=None):
    """An expression with `d#n` in the day of week; `change` is a local datetime of a DST
    change whose own `d#n` comes first."""
    items = [nth_item(rng) for _ in range(rng.choice([1, 1, 1, 1, 1, 1, 1, 2, 2, 3]))]
    if change is not None:
        items[0] = nth_item(rng, change.isoweekday() % 7, (change.day - 1) // 7 + 1)
        rng.shuffle(items)
        minute = rng.choice(["0", "30", "15", "45", "*/15", "*/30", "0,30", "10-40/10", "*", "*/5"])
        hour = "*" if rng.random() < 0.3 else field_text(rng, 1, hours=[0, 1, 2, 3, 4])
        month = "*" if rng.random() < 0.6 else rng.choice([str(change.month), MONTHS[change.month - 1], field_text(rng, 3)])
    else:
        minute, hour = field_text(rng, 0), field_text(rng, 1)
        month = "*" if rng.random() < 0.5 else field_text(rng, 3)
    # Every day of the month, written so that croniter still restricts it (the same schedule).
    dom = "*" if rng.random() < 0.9 else rng.choice(["1-31", "*/1", "1/1", "1-31/1"])
    return " ".join([minute, hour, dom, month, ",".join(items)])


def nth_cases(rng, count, dst_count, changes, runs):
    cases = []
    for i in range(count):
        change = None
        if i < dst_count:
            zone = rng.choice(sorted(changes))
            t = rng.choice(changes[zone])
            change = datetime.datetime.fromtimestamp(t, tz=ZoneInfo(zone))
            start = start_instant(rng, around=t) if rng.random() < 0.6 else t - rng.randint(0, 12 * 86400)
        else:
            zone = rng.choice(ZONES)
            start = start_instant(rng)
        expr = nth_expression(rng, change)
        try:
            fires = evaluate(expr, zone, start, runs)
        except CroniterError as e:
            raise SystemExit("croniter refuses %r, which tidemark accepts: %s" % (expr, e))
        cases.append([expr, zone, start, fires])
    return cases


def nth_corrupt(rng):
    """An expression whose `#` day of week tidemark refuses (croniter refuses most of them)."""
    item = nth_item(rng)
    day = rng.choice(["1", "mon", "5", "Sun", "0", "7"])
    kind = rng.choice(["n0", "nhigh", "day", "range", "names", "step", "star", "no-n", "no-day", "twice",
                       "mix", "mix-same", "mix-all", "dom", "empty", "word"])
    dow = {
        "n0": lambda: "%s#0" % day,
        "nhigh": lambda: "%s#%d" % (day, rng.randint(6, 12)),
        "day": lambda: "%d#%d" % (rng.randint(8, 30), rng.randint(1, 5)),
        "range": lambda: "%d-%d#%d" % (rng.randint(0, 2), rng.randint(3, 6), rng.randint(1, 5)),
        "names": lambda: "%s-%s#%d" % (rng.choice(DAYS[:3]), rng.choice(DAYS[3:]), rng.randint(1, 5)),
        "step": lambda: rng.choice(["*/2#1", "1/2#3", "1#2/2", "1#1-3"]),
        "star": lambda: "*#%d" % rng.randint(1, 5),
        "no-n": lambda: "%s#" % day,
        "no-day": lambda: "#%d" % rng.randint(1, 5),
        "twice": lambda: rng.choice(["1##1", "1#1#1", "%s#2#3" % day]),
        "mix": lambda: rng.choice(["%s,3", "4,%s", "%s,mon-wed", "%s,*/2"]) % item,
        "mix-same": lambda: "%s,%s" % (item, item.split("#")[0]),
        "mix-all": lambda: rng.choice(["%s,0-6", "%s,*"]) % item,
        "dom": lambda: item,
        "empty": lambda: rng.choice(["%s,", ",%s", "%s,,1#2"]) % item,
        "word": lambda: rng.choice(["monday#1", "jan#1", "l#1", "1#x", "1#-1", "1#+1"]),
    }[kind]()
    dom = rng.choice(["15", "1-7", "*/2", "8-14", "1,15", "31"]) if kind == "dom" else "*"
    return " ".join([rng.choice(["0", "30", "*/10"]), rng.choice(["6", "*", "2"]), dom, "*", dow]), "day of week"


FIXED_NTH_ERRORS = [
    "0 6 * * 1#0", "0 6 * * 1#6", "0 6 * * 1#7", "0 6 * * 8#1", "0 6 * * 1-5#2", "0 6 * * mon-fri#2",
    "0 6 * * */2#2", "0 6 * * 1#", "0 6 * * #1", "0 6 * * 1#1,3", "0 6 * * 1#1,1", "0 6 * * 1#1,0-6",
    "0 6 * * 1#1,*", "0 6 15 * 1#1", "0 6 1-7 * 1#1", "0 6 8-14 * 1#1", "0 6 */2 * 1#1", "0 6 * * monday#1",
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--cases", type=int, default=9000, help="evaluation cases, DST ones included")
    p.add_argument("--dst-cases", type=int, default=None, help="of which near a DST change (default: half)")
    p.add_argument("--errors", type=int, default=None, help="random invalid expressions (default: cases/10)")
    p.add_argument("--nth-cases", type=int, default=800, help="evaluation cases with d#n in the day of week")
    p.add_argument("--nth-dst-cases", type=int, default=None, help="of which near a DST change (default: half)")
    p.add_argument("--nth-errors", type=int, default=None, help="random invalid d#n fields (default: nth-cases/8)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--output", default="-")
    a = p.parse_args()
    installed = importlib.metadata.version("croniter")
    if installed != CRONITER_VERSION:
        sys.exit("croniter %s is installed; the oracle is pinned to %s" % (installed, CRONITER_VERSION))
    rng = random.Random(a.seed)
    dst_cases = a.cases // 2 if a.dst_cases is None else a.dst_cases
    changes = {z: transitions(z) for z in ZONES if z != "UTC"}
    cases = []
    for i in range(a.cases):
        near = i < dst_cases
        if near:
            zone = rng.choice(sorted(changes))
            start = start_instant(rng, around=rng.choice(changes[zone]))
        else:
            zone = rng.choice(ZONES)
            start = start_instant(rng)
        expr = expression(rng, near_dst=near)
        try:
            runs = evaluate(expr, zone, start, a.runs)
        except CroniterError as e:
            raise SystemExit("croniter refuses %r, which tidemark accepts: %s" % (expr, e))
        cases.append([expr, zone, start, runs])
    errors = [list(e) for e in FIXED_ERRORS]
    for _ in range(a.cases // 10 if a.errors is None else a.errors):
        errors.append(list(corrupt(rng)))
    nth_dst = a.nth_cases // 2 if a.nth_dst_cases is None else a.nth_dst_cases
    cases += nth_cases(rng, a.nth_cases, nth_dst, changes, a.runs)
    errors += [[e, "day of week"] for e in FIXED_NTH_ERRORS]
    for _ in range(a.nth_cases // 8 if a.nth_errors is None else a.nth_errors):
        errors.append(list(nth_corrupt(rng)))
    for e in errors:
        try:
            croniter(e[0], 0)
            e.append("croniter accepts")
        except (CroniterError, TypeError, ValueError):
            e.append("croniter rejects")
    doc = {"croniter": CRONITER_VERSION, "seed": a.seed, "runs": a.runs, "zones": ZONES,
           "cases": cases, "errors": errors}
    text = "{\n" + ",\n".join(
        ['"%s": %s' % (k, json.dumps(doc[k])) for k in ("croniter", "seed", "runs", "zones")]
        + ['"cases": [\n' + ",\n".join(json.dumps(c) for c in cases) + "\n]",
           '"errors": [\n' + ",\n".join(json.dumps(e) for e in errors) + "\n]"]) + "\n}\n"
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
