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
M.help = require("crystens.help").help

doc[M] = "crystens " .. config.version .. ": generative models (GAN, WGAN-GP, diffusion) " ..
  "for crystal structures on the CrysTens encoding. Modules: ct.tensor (float32 tensors), " ..
  "ct.kmeans (K-means with automatic K; callable: ct.kmeans(values, k)). " ..
  "ct.metrics (K-S, Wasserstein-1, histograms, SMACT validity), ct.plot (SVG charts). " ..
  "help(ct.tensor) documents a module, help(f) a function."

return M
