"""Writers of what the tool produces (JSON, overlay video; later BVH and meshes)."""
