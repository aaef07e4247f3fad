/*
 * ct_elements.c - the element table: symbols, standard atomic masses and radii of
 * Z = 1..103.
 *
 * Provenance: the symbol and mass columns of share/elements.csv, itself the
 * project's copy of /work/shared/data/elements.csv (extracted from Debian
 * python3-pymatgen 2022.11, pymatgen/core/periodic_table.json, MIT licence;
 * see share/README.elements).  tests/c/test_structure.c checks this table
 * against share/elements.csv so the two cannot drift apart.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "ct_elements.h"

static const struct {
    char symbol[3];
    double mass;   /* g/mol */
} elements[CT_MAX_Z + 1] = {
    {"", 0.0},
    {"H", 1.00794},
    {"He", 4.002602},
    {"Li", 6.941},
    {"Be", 9.012182},
    {"B", 10.811},
    {"C", 12.0107},
    {"N", 14.0067},
    {"O", 15.9994},
    {"F", 18.9984032},
    {"Ne", 20.1797},
    {"Na", 22.98976928},
    {"Mg", 24.305},
    {"Al", 26.9815386},
    {"Si", 28.0855},
    {"P", 30.973762},
    {"S", 32.065},
    {"Cl", 35.453},
    {"Ar", 39.948},
    {"K", 39.0983},
    {"Ca", 40.078},
    {"Sc", 44.955912},
    {"Ti", 47.867},
    {"V", 50.9415},
    {"Cr", 51.9961},
    {"Mn", 54.938045},
    {"Fe", 55.845},
    {"Co", 58.933195},
    {"Ni", 58.6934},
    {"Cu", 63.546},
    {"Zn", 65.409},
    {"Ga", 69.723},
    {"Ge", 72.64},
    {"As", 74.9216},
    {"Se", 78.96},
    {"Br", 79.904},
    {"Kr", 83.798},
    {"Rb", 85.4678},
    {"Sr", 87.62},
    {"Y", 88.90585},
    {"Zr", 91.224},
    {"Nb", 92.90638},
    {"Mo", 95.94},
    {"Tc", 98.0},
    {"Ru", 101.07},
    {"Rh", 102.9055},
    {"Pd", 106.42},
    {"Ag", 107.8682},
    {"Cd", 112.411},
    {"In", 114.818},
    {"Sn", 118.71},
    {"Sb", 121.76},
    {"Te", 127.6},
    {"I", 126.90447},
    {"Xe", 131.293},
    {"Cs", 132.9054519},
    {"Ba", 137.327},
    {"La", 138.90547},
    {"Ce", 140.116},
    {"Pr", 140.90765},
    {"Nd", 144.242},
    {"Pm", 145.0},
    {"Sm", 150.36},
    {"Eu", 151.964},
    {"Gd", 157.25},
    {"Tb", 158.92535},
    {"Dy", 162.5},
    {"Ho", 164.93032},
    {"Er", 167.259},
    {"Tm", 168.93421},
    {"Yb", 173.04},
    {"Lu", 174.967},
    {"Hf", 178.49},
    {"Ta", 180.94788},
    {"W", 183.84},
    {"Re", 186.207},
    {"Os", 190.23},
    {"Ir", 192.217},
    {"Pt", 195.084},
    {"Au", 196.966569},
    {"Hg", 200.59},
    {"Tl", 204.3833},
    {"Pb", 207.2},
    {"Bi", 208.9804},
    {"Po", 210.0},
    {"At", 210.0},
    {"Rn", 220.0},
    {"Fr", 223.0},
    {"Ra", 226.0},
    {"Ac", 227.0},
    {"Th", 232.03806},
    {"Pa", 231.03588},
    {"U", 238.02891},
    {"Np", 237.0},
    {"Pu", 244.0},
    {"Am", 243.0},
    {"Cm", 247.0},
    {"Bk", 247.0},
    {"Cf", 251.0},
    {"Es", 252.0},
    {"Fm", 257.0},
    {"Md", 258.0},
    {"No", 259.0},
    {"Lr", 262.0},
};

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

/* Atomic (empirical, Slater 1964) and van der Waals radii in Å, the
   atomic_radius and vdw_radius columns of share/elements.csv; NaN where
   the table has none.  Pictures size their atoms by these. */
#define NA ((double)NAN)
static const double radii[CT_MAX_Z][2] = {
    {0.25, 1.1},   /* H */
    {NA, 1.4},   /* He */
    {1.45, 1.82},   /* Li */
    {1.05, 1.53},   /* Be */
    {0.85, 1.92},   /* B */
    {0.7, 1.7},   /* C */
    {0.65, 1.55},   /* N */
    {0.6, 1.52},   /* O */
    {0.5, 1.47},   /* F */
    {NA, 1.54},   /* Ne */
    {1.8, 2.27},   /* Na */
    {1.5, 1.73},   /* Mg */
    {1.25, 1.84},   /* Al */
    {1.1, 2.1},   /* Si */
    {1.0, 1.8},   /* P */
    {1.0, 1.8},   /* S */
    {1.0, 1.75},   /* Cl */
    {0.71, 1.88},   /* Ar */
    {2.2, 2.75},   /* K */
    {1.8, 2.31},   /* Ca */
    {1.6, 2.15},   /* Sc */
    {1.4, 2.11},   /* Ti */
    {1.35, 2.07},   /* V */
    {1.4, 2.06},   /* Cr */
    {1.4, 2.05},   /* Mn */
    {1.4, 2.04},   /* Fe */
    {1.35, 2.0},   /* Co */
    {1.35, 1.97},   /* Ni */
    {1.35, 1.96},   /* Cu */
    {1.35, 2.01},   /* Zn */
    {1.3, 1.87},   /* Ga */
    {1.25, 2.11},   /* Ge */
    {1.15, 1.85},   /* As */
    {1.15, 1.9},   /* Se */
    {1.15, 1.85},   /* Br */
    {NA, 2.02},   /* Kr */
    {2.35, 3.03},   /* Rb */
    {2.0, 2.49},   /* Sr */
    {1.8, 2.32},   /* Y */
    {1.55, 2.23},   /* Zr */
    {1.45, 2.18},   /* Nb */
    {1.45, 2.17},   /* Mo */
    {1.35, 2.16},   /* Tc */
    {1.3, 2.13},   /* Ru */
    {1.35, 2.1},   /* Rh */
    {1.4, 2.1},   /* Pd */
    {1.6, 2.11},   /* Ag */
    {1.55, 2.18},   /* Cd */
    {1.55, 1.93},   /* In */
    {1.45, 2.17},   /* Sn */
    {1.45, 2.06},   /* Sb */
    {1.4, 2.06},   /* Te */
    {1.4, 1.98},   /* I */
    {NA, 2.16},   /* Xe */
    {2.6, 3.43},   /* Cs */
    {2.15, 2.68},   /* Ba */
    {1.95, 2.43},   /* La */
    {1.85, 2.42},   /* Ce */
    {1.85, 2.4},   /* Pr */
    {1.85, 2.39},   /* Nd */
    {1.85, 2.38},   /* Pm */
    {1.85, 2.36},   /* Sm */
    {1.85, 2.35},   /* Eu */
    {1.8, 2.34},   /* Gd */
    {1.75, 2.33},   /* Tb */
    {1.75, 2.31},   /* Dy */
    {1.75, 2.3},   /* Ho */
    {1.75, 2.29},   /* Er */
    {1.75, 2.27},   /* Tm */
    {1.75, 2.26},   /* Yb */
    {1.75, 2.24},   /* Lu */
    {1.55, 2.23},   /* Hf */
    {1.45, 2.22},   /* Ta */
    {1.35, 2.18},   /* W */
    {1.35, 2.16},   /* Re */
    {1.3, 2.16},   /* Os */
    {1.35, 2.13},   /* Ir */
    {1.35, 2.13},   /* Pt */
    {1.35, 2.14},   /* Au */
    {1.5, 2.23},   /* Hg */
    {1.9, 1.96},   /* Tl */
    {1.8, 2.02},   /* Pb */
    {1.6, 2.07},   /* Bi */
    {1.9, 1.97},   /* Po */
    {NA, 2.02},   /* At */
    {NA, 2.2},   /* Rn */
    {NA, 3.48},   /* Fr */
    {2.15, 2.83},   /* Ra */
    {1.95, 2.47},   /* Ac */
    {1.8, 2.45},   /* Th */
    {1.8, 2.1},   /* Pa */
    {1.75, 2.41},   /* U */
    {1.75, 2.39},   /* Np */
    {1.75, 2.43},   /* Pu */
    {1.75, 2.44},   /* Am */
    {NA, 2.45},   /* Cm */
    {NA, 2.44},   /* Bk */
    {NA, 2.45},   /* Cf */
    {NA, 2.45},   /* Es */
    {NA, 2.45},   /* Fm */
    {NA, 2.46},   /* Md */
    {NA, 2.46},   /* No */
    {NA, NA},   /* Lr */
};
#undef NA

double ct_element_atomic_radius(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? radii[z - 1][0] : (double)NAN;
}

double ct_element_vdw_radius(int z)
{
    return z >= 1 && z <= CT_MAX_Z ? radii[z - 1][1] : (double)NAN;
}
