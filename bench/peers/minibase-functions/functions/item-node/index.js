// bench/scenarios/functions.sh: one indexed lookup (items.code has a unique index).
const cloud = require('wx-server-sdk')
const db = cloud.database()

exports.main = async (event) => {
  const { data } = await db.collection('items').where({ code: event.code }).limit(1).get()
  return data[0] || null
}
