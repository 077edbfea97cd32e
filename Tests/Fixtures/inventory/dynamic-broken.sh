#!/bin/sh
# An executable inventory that fails: its message must reach the user.
echo "cloud API token expired" >&2
exit 3
