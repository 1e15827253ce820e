"""Re-seed without clobbering hand edits: per managed file, a 3-way decision (last render, repository, new render).

Pure: decisions are made from blob ids; only files changed by both sides need their contents, and the
line-level merge itself runs in an adapter. See `decide.classify`, `decide.settle` and `assemble.assemble`.
"""
