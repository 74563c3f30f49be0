"""``quantarena tune``: the fastest INT8 candidate within an accuracy budget, searched over each
recipe's declared knobs on a validation split, confirmed once on a held-out evaluation split."""
