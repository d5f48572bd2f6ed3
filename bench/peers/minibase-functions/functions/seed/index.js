// bench/scenarios/functions.sh: fills `items` with 10,000 documents (c0 … c9999), once.
const cloud = require('wx-server-sdk')
const db = cloud.database()

exports.main = async () => {
  const items = db.collection('items')
  const { total } = await items.count()
  if (total >= 10000) return { total }
  for (let i = 0; i < 10000; i++) {
    await items.add({ data: { code: 'c' + i, title: 'item ' + i } })
  }
  return { total: (await items.count()).total }
}
