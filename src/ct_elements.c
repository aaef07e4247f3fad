/*
 * ct_elements.c - the element table: symbols, standard atomic masses and radii of
 * Z = 1..103.
 *
 * Provenance: the symbol, mass and radius columns of share/elements.csv,
 * itself the project's copy of /work/shared/data/elements.csv (extracted
 * from Debian python3-pymatgen 2022.11, pymatgen/core/periodic_table.json,
 * MIT licence; see share/README.elements), compiled in when crystens is
 * built, so the CSV is the only copy.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "ct_elements.h"

/* The rows come from share/elements.csv through src/ct_elements.awk (see
   Makefile.am): Z = 1..103 in order, NA where the CSV has no radius.  The
   radii are the atomic (empirical, Slater 1964) and van der Waals radii in
   Å; pictures size their atoms by them. */
#define NA ((double)NAN)
static const struct {
    char symbol[3];
    double mass;            /* g/mol */
    double atomic_radius;   /* Å */
    double vdw_radius;      /* Å */
} elements[CT_MAX_Z + 1] = {
    {"", 0.0, NA, NA},
#include "ct_elements_table.h"
};
#undef NA
_Static_assert(CT_ELEMENTS_ROWS == CT_MAX_Z, "share/elements.csv must hold Z = 1..CT_MAX_Z");

const char *ct_element_symbol(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? elements[z].symbol : NULL;
}

double ct_element_mass(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? elements[z].mass : (double)NAN;
}

int ct_element_z(const char *symbol, size_t len)
{
    if (len == 0 || len > 2) return 0;
    char want[3] = {(char)toupper((unsigned char)symbol[0]), 0, 0};
    if (len == 2) want[1] = (char)tolower((unsigned char)symbol[1]);
    for (int z = 1; z <= CT_MAX_Z; z++)
        if (strcmp(elements[z].symbol, want) == 0) return z;
    return 0;
}

/* The elements past CT_MAX_Z, Rf (104) to Og (118), and the placeholder
   names once used for 112-118: known by name only, so that "Og" is refused
   as oganesson rather than read as oxygen. */
static const char *const heavy[] = {"Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg",
                                    "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
static const char *const placeholder[] = {"Uub", "Uut", "Uuq", "Uup", "Uuh", "Uus", "Uuo"};

_Static_assert(sizeof heavy / sizeof *heavy == CT_NAMED_Z - CT_MAX_Z, "heavy holds Z = CT_MAX_Z+1..CT_NAMED_Z");

const char *ct_element_any_symbol(int z)
{
    return z > CT_MAX_Z && z <= CT_NAMED_Z ? heavy[z - CT_MAX_Z - 1] : ct_element_symbol(z);
}

/* Z of a symbol past CT_MAX_Z (case-insensitive), or 0. */
static int heavy_z(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof heavy / sizeof *heavy; i++)
        if (len == 2 && strncasecmp(s, heavy[i], 2) == 0) return CT_MAX_Z + 1 + (int)i;
    for (size_t i = 0; i < sizeof placeholder / sizeof *placeholder; i++)
        if (len == 3 && strncasecmp(s, placeholder[i], 3) == 0) return 112 + (int)i;
    return 0;
}

/* Whether s[0..len) is the symbol of z in its proper case ("Fe", not "FE"). */
static int proper(const char *s, size_t len, int z)
{
    const char *sym = z <= CT_MAX_Z ? elements[z].symbol
                      : z >= 112 && len == 3 ? placeholder[z - 112] : heavy[z - CT_MAX_Z - 1];
    return strlen(sym) == len && strncmp(s, sym, len) == 0;
}

int ct_element_cif(const char *text, int from_label, int *guessed)
{
    size_t run = 0;
    while (isalpha((unsigned char)text[run])) run++;
    *guessed = 0;
    /* Names for water and the hydrogen isotopes that CIFs use. */
    if ((run >= 3 && strncasecmp(text, "wat", 3) == 0) ||
        (run == 2 && strncasecmp(text, "ow", 2) == 0)) {
        *guessed = 1;
        return 8;
    }
    if ((run == 2 && strncasecmp(text, "hw", 2) == 0) ||
        (run == 1 && (text[0] == 'D' || (!from_label && text[0] == 'd')))) {
        *guessed = 1;
        return 1;
    }
    if (run == 0) return 0;
    int z = ct_element_z(text, run);
    if (!z) z = heavy_z(text, run);
    if (!from_label) return z <= CT_MAX_Z ? z : -z;
    /* A label is its element's symbol, then nothing or a number ("O1",
       "Fe2A"): anything else ("Wat5", "O-H3", "CL3", "NaA2") is a guess,
       the two leading letters if they are a symbol, else the first. */
    if (z && proper(text, run, z) && !isalpha((unsigned char)text[run]) &&
        (text[run] == '\0' || isdigit((unsigned char)text[run])))
        return z <= CT_MAX_Z ? z : -z;
    *guessed = 1;
    if (run >= 2 && (z = ct_element_z(text, 2))) return z;
    return ct_element_z(text, 1);
}

double ct_element_atomic_radius(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? elements[z].atomic_radius : (double)NAN;
}

double ct_element_vdw_radius(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? elements[z].vdw_radius : (double)NAN;
}
