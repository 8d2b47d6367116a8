"""Body-mesh recovery helpers (SMPL-based video mesh models and their pre/post-processing)."""
