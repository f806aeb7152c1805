-- dw-lsp for Neovim 0.7+: put this in your init.lua (or `:luafile path/to/dw-lsp.lua`).
--
-- Attaches the dw-lsp language server to JSON buffers that are diffusers-workflow files:
-- the buffer text contains "steps", or the file lives under a `workflows/` folder.
--
-- Optional globals (read each time a server starts, so they may be set before or after
-- this file is sourced):
--   vim.g.dw_lsp_cmd       command that starts the server over stdio
--                          (default {"python3", "-m", "dw_lsp"}; use your venv's python)
--   vim.g.dw_lsp_settings  dw-lsp settings, e.g. {outputDir = "outputs", worker = {prewarm = false}}
--   vim.g.dw_lsp_codelens  false to not refresh the Run/Memory/Clear code lenses automatically
--
-- Neovim 0.10+ uses vim.lsp.start; older versions start one client per root folder with
-- vim.lsp.start_client and attach each buffer with vim.lsp.buf_attach_client.

local M = {}

local uv = vim.loop

local function is_workflow(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr):gsub("\\", "/")
  if ("/" .. path):find("/workflows/", 1, true) then
    return true
  end
  for _, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    if line:find('"steps"', 1, true) then
      return true
    end
  end
  return false
end

-- The nearest folder (of the buffer's file) that holds .git, or the cwd.
local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name ~= "" then
    local dir = vim.fn.fnamemodify(name, ":p:h")
    while dir and dir ~= "" do
      if uv.fs_stat(dir .. "/.git") then
        return dir
      end
      local parent = vim.fn.fnamemodify(dir, ":h")
      if parent == dir then
        break
      end
      dir = parent
    end
  end
  return vim.fn.getcwd()
end

-- The dw-lsp client attached to `bufnr`, if any.
function M.client(bufnr)
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ bufnr = bufnr, name = "dw-lsp" })[1]
  end
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == "dw-lsp" then
      return client
    end
  end
  return nil
end

local function summary(command, result)
  if type(result) ~= "table" or command ~= "dw.run" then
    return command .. ": " .. vim.inspect(result)
  end
  local lines = { "dw.run: " .. tostring(result.status) }
  if type(result.error) == "table" and result.error.message then
    table.insert(lines, result.error.message) -- already lists the problems that stopped it
  end
  for _, warning in ipairs(result.warnings or {}) do
    table.insert(lines, "warning: " .. tostring(warning))
  end
  for _, output in ipairs(result.outputs or {}) do
    table.insert(lines, "output: " .. (type(output) == "string" and output or vim.inspect(output)))
  end
  return table.concat(lines, "\n")
end

local function show(command, err, result)
  if err then
    vim.notify(command .. " failed: " .. tostring(err.message or err), vim.log.levels.ERROR)
  else
    local failed = type(result) == "table" and result.status == "error"
    vim.notify(summary(command, result), failed and vim.log.levels.ERROR or vim.log.levels.INFO)
  end
end

local function refresh_lenses(bufnr)
  if vim.g.dw_lsp_codelens ~= false and vim.api.nvim_get_current_buf() == bufnr then
    -- 0.7-0.9 refresh the current buffer; 0.10+ take {bufnr = ...}.
    pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
  end
end

local function request(client, bufnr, command, arguments, on_result)
  local params = { command = command, arguments = arguments }
  local handler = function(err, result)
    if on_result then
      on_result(err, result)
    else
      show(command, err, result)
    end
  end
  if vim.fn.has("nvim-0.11") == 1 then
    client:request("workspace/executeCommand", params, handler, bufnr)
  else
    client.request("workspace/executeCommand", params, handler, bufnr)
  end
end

--- Run a dw.* command (dw.run, dw.status, ...) for the current buffer and show its result
--- with vim.notify (or pass it to on_result(err, result)). `extra` is merged into the
--- command's argument, e.g. {arguments = {prompt = "a cat"}}.
function M.exec(command, extra, on_result)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if client == nil then
    vim.notify("dw-lsp is not attached to this buffer", vim.log.levels.WARN)
    return
  end
  local argument = vim.tbl_extend("force", { uri = vim.uri_from_bufnr(bufnr) }, extra or {})
  request(client, bufnr, command, { argument }, on_result)
end

-- Client-side handlers for the code lenses' commands: vim.lsp.codelens.run() (and 0.11's
-- client:exec_cmd) call these, which send the command to the server and show its result
-- (Neovim's default handler would drop it).
local lens_commands = {}
for _, command in ipairs({ "dw.run", "dw.memory", "dw.clear" }) do
  lens_commands[command] = function(lens_command, ctx)
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if client ~= nil then
      request(client, ctx.bufnr, command, lens_command.arguments, function(err, result)
        show(command, err, result)
        refresh_lenses(ctx.bufnr) -- running a lens hides the lenses on its line
      end)
    end
  end
end

local function on_attach(client, bufnr)
  if vim.g.dw_lsp_codelens == false then
    return
  end
  vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "BufWritePost" }, {
    group = vim.api.nvim_create_augroup("dw_lsp_codelens_" .. bufnr, { clear = true }),
    buffer = bufnr,
    callback = function()
      refresh_lenses(bufnr)
    end,
  })
  refresh_lenses(bufnr)
end

local function config(bufnr)
  local root = root_dir(bufnr)
  local settings = vim.g.dw_lsp_settings
  if type(settings) ~= "table" or vim.tbl_isempty(settings) then
    settings = vim.empty_dict() -- sent as {} rather than []
  end
  return {
    name = "dw-lsp",
    cmd = vim.g.dw_lsp_cmd or { "python3", "-m", "dw_lsp" },
    root_dir = root,
    -- Like VS Code, run the server in the project folder: relative settings such as
    -- outputDir ("outputs" by default) resolve against it.
    cmd_cwd = root,
    init_options = settings,
    -- Answers the server's workspace/configuration pull for the "dwLsp" section.
    settings = { dwLsp = settings },
    commands = lens_commands,
    on_attach = on_attach,
  }
end

local clients = {} -- root_dir -> client id (Neovim < 0.10 only)

local function start_legacy(bufnr, cfg)
  local id = clients[cfg.root_dir]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    local root = cfg.root_dir
    cfg.on_exit = function()
      clients[root] = nil
    end
    id = vim.lsp.start_client(cfg)
    if id == nil then
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- Attach dw-lsp to `bufnr` (0 = current) if it is a workflow; returns the client id.
function M.attach(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  if vim.bo[bufnr].buftype ~= "" or not is_workflow(bufnr) then
    return nil
  end
  local cfg = config(bufnr)
  if vim.fn.has("nvim-0.10") == 1 then -- reuses a client with the same name and root_dir
    return vim.lsp.start(cfg, { bufnr = bufnr })
  end
  return start_legacy(bufnr, cfg)
end

-- :DwRun [{"prompt": "..."}]  runs the saved file (optional JSON object of arguments);
-- :DwStatus, :DwMemory, :DwClear, :DwCancel, :DwRestartWorker.
vim.api.nvim_create_user_command("DwRun", function(opts)
  local extra = nil
  if opts.args ~= "" then
    local ok, arguments = pcall(vim.fn.json_decode, opts.args)
    if not ok or type(arguments) ~= "table" then
      vim.notify(":DwRun takes a JSON object of arguments", vim.log.levels.ERROR)
      return
    end
    extra = { arguments = arguments }
  end
  M.exec("dw.run", extra)
end, { nargs = "?" })
for name, command in pairs({
  DwStatus = "dw.status",
  DwMemory = "dw.memory",
  DwClear = "dw.clear",
  DwCancel = "dw.cancel",
  DwRestartWorker = "dw.restartWorker",
}) do
  vim.api.nvim_create_user_command(name, function()
    M.exec(command)
  end, {})
end

local group = vim.api.nvim_create_augroup("dw_lsp", { clear = true })
vim.api.nvim_create_autocmd("FileType", {
  group = group,
  pattern = "json",
  callback = function(args)
    M.attach(args.buf)
  end,
})
-- A new JSON file becomes a workflow once "steps" is written into it.
vim.api.nvim_create_autocmd("BufWritePost", {
  group = group,
  callback = function(args)
    if vim.bo[args.buf].filetype == "json" then
      M.attach(args.buf)
    end
  end,
})

_G.dw_lsp = M
return M
