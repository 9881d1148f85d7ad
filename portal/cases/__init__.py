"""Cases as the council's case management system knows them, behind one lookup interface."""
