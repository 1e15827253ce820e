"""Chart updates: find every pinned version in a tree, decide what to propose, plan the branches, report currency."""
