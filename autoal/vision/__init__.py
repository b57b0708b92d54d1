"""Images to vectors: the offline pretrained backbones, their checkpoint folders and weights files, the embedder, and
the embedding cache."""
