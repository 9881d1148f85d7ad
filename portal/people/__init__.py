"""People management: partner leads approve and suspend their organisation's people and give
them partner roles; portal administrators do so for everyone, council roles included."""
