"""Belle II physics: event generation, detector simulation and reconstruction."""
