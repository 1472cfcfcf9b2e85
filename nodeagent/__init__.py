"""The image service's node agent: runs on a compute node, turns snapshot-export requests from its
node's queue into `zfs send | gzip` streams uploaded part by part through the image API.

It needs network access to the API and to its queue, the node token, and SQS rights on its own
queue only; never AWS credentials for the image store or the tables: the API hands out a
presigned URL per part, scoped to the one task and expiring.
"""
__version__ = "1.0.0"
