-- Health of a b24ops.io object (b24-operator), for Argo CD.
--
-- One body serves every kind. The operator follows kstatus conventions:
--   * status.observedGeneration is -1 until the first reconcile and equals
--     metadata.generation once the current spec has been handled;
--   * Ready is always present; Reconciling and Stalled are present only while True.
-- Argo CD runs this without the Lua string library, so it uses only base functions.
local hs = {}

-- Ready=False reasons the operator will not get past on its own: the spec, the
-- credentials or the remote side must change first.
local terminal = {
  InvalidSpec = true,
  AuthFailed = true,
  MissingScope = true,
  InstallNotFinished = true,
  BotLimitExceeded = true,
  CodeTaken = true,
  OutcomeUnknown = true,
}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  local text = fallback
  if condition.message ~= nil and condition.message ~= "" then
    text = condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason .. ": " .. text
  end
  return text
end

-- A suspended cron ScheduledJob sends no new ticks whatever else its status says.
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: spec.suspend is true, no new ticks are sent"
  return hs
end

-- A paused object (b24ops.io/paused: "true") gets no remote call at all; removing the
-- annotation resumes it.
local annotations = obj.metadata.annotations
if annotations ~= nil and annotations["b24ops.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Paused: b24ops.io/paused is true, no remote call is made until it is removed"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation
local observed = status.observedGeneration
if observed == nil or observed < 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator's first reconcile"
  return hs
end
if generation ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
    " (observed " .. tostring(observed) .. ")"
  return hs
end

local stalled = findCondition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local reconciling = findCondition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

local ready = findCondition(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(ready, "Suspended")
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end
if terminal[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end
-- Progressing, DependencyNotReady, Deleting, RateLimited, RemoteError and any reason
-- added later: the operator is still working on it and retries by itself.
hs.status = "Progressing"
hs.message = describe(ready, "Not ready")
return hs
