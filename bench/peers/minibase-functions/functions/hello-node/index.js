// bench/scenarios/functions.sh: the trivial function.
exports.main = async (event) => ({ hello: event.name || 'world' })
