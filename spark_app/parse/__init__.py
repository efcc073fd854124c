"""Pure parsing and validation: whole files in, validated records out (DataFrame -> DataFrame)."""
