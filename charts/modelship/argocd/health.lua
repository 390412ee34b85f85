-- Argo CD health of a modelship.io ModelDeployment, read from its status the way kstatus
-- reads it: a status about an older generation says nothing about the current spec, so it is
-- Progressing until the operator catches up; then Stalled=True (a person must act) is
-- Degraded, Reconciling=True is Progressing, and Ready=True is Healthy.
-- Add it to argocd-cm as resource.customizations.health.modelship.io_ModelDeployment
-- (see argocd/argocd-cm.yaml next to this file).

local function find_condition(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == wanted then
      return condition
    end
  end
  return nil
end

local function is_true(condition)
  return condition ~= nil and condition.status == "True"
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local message = condition.message
  if message == nil or message == "" then
    message = fallback
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason .. ": " .. message
  end
  return message
end

local hs = {}
local generation = obj.metadata.generation
local status = obj.status

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelship operator to report a status"
  return hs
end

if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelship operator to observe generation " ..
    tostring(generation) .. " (its status is about generation " ..
    tostring(status.observedGeneration) .. ")"
  return hs
end

local conditions = status.conditions
local stalled = find_condition(conditions, "Stalled")
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "The ModelDeployment is stalled")
  return hs
end

local reconciling = find_condition(conditions, "Reconciling")
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "The operator is converging")
  return hs
end

local ready = find_condition(conditions, "Ready")
local ready_is_current = ready ~= nil and (ready.observedGeneration == nil or
  generation == nil or ready.observedGeneration >= generation)
if is_true(ready) and ready_is_current then
  hs.status = "Healthy"
  hs.message = describe(ready, "Serving")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
