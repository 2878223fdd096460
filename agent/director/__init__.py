"""What the AI does next: inputs in, actions out."""
