-- crystens: the top-level module, reached as the global `ct` in the REPL and
-- as `local ct = require "crystens"` in scripts.  It gathers the C modules
-- and the Lua modules under one table.

local config = require "crystens.config"
local doc = require "crystens.doc"

local M = {}

M.version = config.version
M.datadir = config.datadir
M.tensor = require "crystens.tensor"
M.metrics = require "crystens.metrics"
M.plot = require "crystens.plot"
M.kmeans = require "crystens.kmeans"
M.fingerprint = require "crystens.fingerprint"
M.nn = require "crystens.nn"
M.json = require "crystens.json"
M.structure = require "crystens.structure"
M.cif = require "crystens.cif"
M.dataset = require "crystens.dataset"
M.crystens = require "crystens.crystens"
M.progress = require "crystens.progress"
M.picture = require "crystens.picture"
M.file = require "crystens.file"
M.report = require "crystens.report"
M.interrupt = require "crystens.interrupt"
M.models = require "crystens.models"
M.train = require "crystens.train"
M.properties = require "crystens.properties"
M.help = require("crystens.help").help
M.tour = require("crystens.tour").run

doc[M] = "crystens " .. config.version .. ": generative models (GAN, WGAN-GP, diffusion) " ..
  "for crystal structures on the CrysTens encoding. Modules: ct.tensor (float32 tensors), " ..
  "ct.kmeans (K-means with automatic K; callable: ct.kmeans(values, k)). " ..
  "ct.nn (layers, models, Adam, checkpoints; ct.nn.unet), ct.json. " ..
  "ct.metrics (K-S, Wasserstein-1, histograms, SMACT validity, paper: Tables 1-2), ct.plot (SVG charts). " ..
  "ct.cif (read/parse/write CIF), ct.structure (crystal structures), ct.dataset (CSV/CIF " ..
  "data sets), ct.crystens (CrysTens encode/decode, t:save_png), ct.progress (progress bars), " ..
  "ct.picture (crystal pictures: s:save_png, ct.picture.grid), " ..
  "ct.report (generated against reference: table and HTML page). " ..
  "ct.fingerprint (CDVAE structure fingerprint: CrystalNN + order parameters). " ..
  "ct.models (GAN, WGAN-GP, diffusion), ct.train (training loop), ct.interrupt. " ..
  "ct.properties (predicted formation energy and energy above hull). " ..
  "help(ct.tensor) documents a module, help(f) a function."

return M
