// Placeholder.
public enum SaMDRecordServicePlaceholder {}
