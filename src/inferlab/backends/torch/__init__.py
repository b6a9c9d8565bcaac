"""PyTorch backend: runs a torch.nn.Module on CPU or CUDA (imports torch)."""
