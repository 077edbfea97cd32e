#!/bin/sh
# An executable inventory that never answers: tpudeploy must stop it at its deadline.
exec sleep 600
