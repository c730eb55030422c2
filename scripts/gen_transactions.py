#!/usr/bin/env python3
"""Generate a deterministic transactions CSV (the shape kafka-feeder's users feed).

    python3 scripts/gen_transactions.py                 # data/transactions.csv, 10,000 rows
    python3 scripts/gen_transactions.py --rows 1000000 --out /tmp/tx-1m.csv

The same arguments always give byte-identical output (seeded RNG, fixed epoch),
so the bundled sample and benchmark datasets are reproducible. About 150 bytes
of CSV per row. Cells exercise the loader's typing: integer and decimal amounts,
zip codes with leading zeros (stay strings), booleans, empty cells (null), and
quoted memos with commas and quotes.
"""
import argparse
import csv
import random
import sys
from datetime import datetime, timedelta, timezone

MERCHANTS = [
    "Acme Grocers", "Blue Bottle Coffee", "City Transit", "Corner Pharmacy", "Fuel Stop",
    "Green Market", "Hotel Lindqvist", "Café Zürich", "Bookworm & Co", "Sushi Kyō",
    "Northwind Outfitters", "Pixel Electronics", "Riverside Cinema", "Tandoori Palace",
]
CATEGORIES = ["grocery", "restaurant", "transport", "health", "fuel", "travel", "retail", "entertainment"]
CITIES = [("US", "Boston", "02134"), ("US", "New York", "10001"), ("US", "Newark", "07102"),
          ("GB", "London", ""), ("DE", "Berlin", "10115"), ("NO", "Oslo", "0150"),
          ("JP", "Tokyo", "100-0001"), ("FR", "Paris", "75001")]
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "NO": "NOK", "JP": "JPY", "FR": "EUR"}
CHANNELS = ["card_present", "online", "contactless", "atm"]
MEMOS = ["", "", "", "", "refund requested", "split bill, 3 ways", 'customer said "keep the change"']
HEADER = ["transaction_id", "timestamp", "account_id", "merchant", "category", "amount",
          "currency", "country", "city", "zip", "channel", "is_fraud", "memo"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default="data/transactions.csv", help="path, or - for stdout")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    epoch = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="", encoding="utf-8")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for i in range(args.rows):
        country, city, zipc = rng.choice(CITIES)
        ts = epoch + timedelta(seconds=i * 37 + rng.randrange(37))
        cents = rng.randrange(50, 50_000)
        amount = str(cents // 100) if country == "JP" else f"{cents // 100}.{cents % 100:02d}"
        w.writerow([
            f"tx-{i:08d}",
            ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            rng.randrange(100_000, 999_999),
            rng.choice(MERCHANTS),
            rng.choice(CATEGORIES),
            amount,
            CURRENCY[country],
            country,
            city,
            zipc,
            rng.choice(CHANNELS),
            "true" if rng.random() < 0.01 else "false",
            rng.choice(MEMOS),
        ])
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
