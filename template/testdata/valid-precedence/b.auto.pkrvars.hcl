# Read after a.auto.pkrvars.hcl: it wins.
from_auto = "auto-b"
