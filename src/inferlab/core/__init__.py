"""Core types shared by every layer. Imports no sibling package and no heavy library."""
