-- crystens: the top-level module, reached as the global `ct` in the REPL and
-- as `local ct = require "crystens"` in scripts.  It gathers the C modules
-- and the Lua modules under one table.

local config = require "crystens.config"
local doc = require "crystens.doc"

local M = {}

M.version = config.version
M.datadir = config.datadir
M.tensor = require "crystens.tensor"
M.help = require("crystens.help").help

doc[M] = "crystens " .. config.version .. ": generative models (GAN, WGAN-GP, diffusion) " ..
  "for crystal structures on the CrysTens encoding. Modules: ct.tensor (float32 tensors). " ..
  "help(ct.tensor) documents a module, help(f) a function."

return M
