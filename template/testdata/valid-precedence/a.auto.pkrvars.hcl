from_auto  = "auto-a"
from_file1 = "auto-a"
from_file2 = "auto-a"
from_flag  = "auto-a"
