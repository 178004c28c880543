// Placeholder.
public enum SaMDDevPKIPlaceholder {}
