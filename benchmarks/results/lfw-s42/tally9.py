import json
for n in ("def0", "fh4"):
    rows = json.load(open(f".cache/s42/{n}/judge.json"))["rows"] + json.load(open(f".cache/s42/{n}/judge-rest.json"))["rows"]
    tot = sum(round(r["hardened"]["top1"] * r["hardened"]["rows"]) for r in rows)
    worst = max((r["hardened"]["top1"], r["preset"]) for r in rows); w5 = max((r["hardened"]["top5"], r["preset"]) for r in rows)
    at5 = sum(r["hardened"]["top1"] <= 0.05 + 1e-9 for r in rows)
    print(n, len(rows), "attacks; recovered", tot, "of", 75 * len(rows), "; worst top1 %.1f %s; worst top5 %.1f %s; at or under 5%%: %d" % (worst[0]*100, worst[1], w5[0]*100, w5[1], at5))
    print("   ", {r["preset"]: (round(r["hardened"]["top1"]*75), round(r["hardened"]["top5"]*100, 1)) for r in rows})
