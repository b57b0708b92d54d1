"""Images to vectors: the offline pretrained backbones, the embedder, and the embedding cache."""
