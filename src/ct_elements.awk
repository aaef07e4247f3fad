# ct_elements.awk - turn share/elements.csv into the rows of the element
# table that src/ct_elements.c compiles in, so the CSV is the one copy of
# the data:  awk -f ct_elements.awk elements.csv > ct_elements_table.h
#
# Each row is {"symbol", mass, atomic radius, van der Waals radius}, the
# CSV's text copied as it stands, NA (NaN) where a radius is empty.  The
# columns are found by their header names; a row out of Z order, a symbol
# of more than two letters or a missing mass stops the build.
BEGIN { FS = ","; bad = 0 }

function fail(why) {
    printf "%s:%d: %s\n", FILENAME, NR, why > "/dev/stderr"
    bad = 1
    exit 1
}

NR == 1 {
    for (i = 1; i <= NF; i++) col[$i] = i
    split("Z symbol mass atomic_radius vdw_radius", want, " ")
    for (k = 1; k <= 5; k++)
        if (!(want[k] in col)) fail("no column " want[k])
    print "/* Generated from share/elements.csv by src/ct_elements.awk: do not edit. */"
    next
}

{
    z = $(col["Z"]); sym = $(col["symbol"]); mass = $(col["mass"])
    if (z != NR - 1) fail("Z " z " where " (NR - 1) " was due")
    if (sym !~ /^[A-Z][a-z]?$/) fail("symbol '" sym "' is not one or two letters")
    if (mass == "") fail("no mass for " sym)
    ra = $(col["atomic_radius"]); rv = $(col["vdw_radius"])
    printf "    {\"%s\", %s, %s, %s},\n", sym, mass, ra == "" ? "NA" : ra, rv == "" ? "NA" : rv
}

END {
    if (!bad) printf "#define CT_ELEMENTS_ROWS %d\n", NR - 1
}
