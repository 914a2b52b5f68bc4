from_file1 = "file1"
from_file2 = "file1"
from_flag  = "file1"
