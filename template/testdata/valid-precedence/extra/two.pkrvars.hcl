from_file2 = "file2"
from_flag  = "file2"
